package mtasts

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestCacheDirPerUser(t *testing.T) {
	for _, tt := range []struct {
		name string
		c    CacheDirConfig
		want string
	}{
		{"XDG_CACHE_HOME", CacheDirConfig{XDGCacheHome: "/xdg/cache", Home: "/home/u"}, "/xdg/cache/mailout/mta-sts"},
		{"HOME", CacheDirConfig{Home: "/home/u"}, "/home/u/.cache/mailout/mta-sts"},
		{"relative XDG_CACHE_HOME is ignored", CacheDirConfig{XDGCacheHome: "cache", Home: "/home/u"}, "/home/u/.cache/mailout/mta-sts"},
		{"XDG_CACHE_HOME without HOME", CacheDirConfig{XDGCacheHome: "/xdg/cache"}, "/xdg/cache/mailout/mta-sts"},
		{"no home", CacheDirConfig{}, ""},
		{"relative XDG_CACHE_HOME, no home", CacheDirConfig{XDGCacheHome: "cache"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := CacheDir(tt.c); got != tt.want {
				t.Errorf("CacheDir(%+v) = %q, want %q", tt.c, got, tt.want)
			}
		})
	}
}

func TestCacheDirBesideQueue(t *testing.T) {
	uid := os.Getuid()
	owner := func(who int, ok bool) func(fs.FileInfo) (int, bool) {
		return func(fs.FileInfo) (int, bool) { return who, ok }
	}
	q := t.TempDir()
	want := filepath.Join(q, fmt.Sprintf("mta-sts-%d", uid))
	c := CacheDirConfig{XDGCacheHome: "/xdg/cache", Home: "/home/u", QueueDir: q, UID: uid, Owner: owner(uid, true)}
	if got := CacheDir(c); got != want {
		t.Fatalf("with a queue folder: %q, want %q", got, want)
	}
	fi, err := os.Stat(want)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("created folder: %v, %v; want mode 0700", fi, err)
	}
	if got := CacheDir(c); got != want {
		t.Errorf("existing folder: %q, want %q", got, want)
	}
	for name, o := range map[string]func(fs.FileInfo) (int, bool){
		"owned by another user": owner(uid+1, true),
		"owner unknown":         owner(0, false),
		"no owner check":        nil,
	} {
		c := c
		c.Owner = o
		if got := CacheDir(c); got != "" {
			t.Errorf("%s: %q, want \"\"", name, got)
		}
	}
	if err := os.Chmod(want, 0o777); err != nil {
		t.Fatal(err)
	}
	if got := CacheDir(c); got != "" {
		t.Errorf("world-writable folder used: %q", got)
	}
	if err := os.Chmod(want, 0o700); err != nil {
		t.Fatal(err)
	}

	// Not a folder: a file (or a planted symlink) in its place.
	q2 := t.TempDir()
	c.QueueDir = q2
	if err := os.Symlink(t.TempDir(), filepath.Join(q2, fmt.Sprintf("mta-sts-%d", uid))); err != nil {
		t.Fatal(err)
	}
	if got := CacheDir(c); got != "" {
		t.Errorf("symlink used: %q", got)
	}
	c.QueueDir = filepath.Join(t.TempDir(), "missing")
	if got := CacheDir(c); got != "" {
		t.Errorf("missing queue folder: %q", got)
	}
}
