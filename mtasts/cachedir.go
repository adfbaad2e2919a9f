package mtasts

import (
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// CacheDirConfig is what [CacheDir] chooses from. The caller reads the
// environment and the configuration and passes the values in, so this
// package reads neither.
type CacheDirConfig struct {
	XDGCacheHome string // $XDG_CACHE_HOME; used when absolute
	Home         string // $HOME; its .cache when XDGCacheHome is not used
	// QueueDir is a system-wide queue folder (the queue_dir key); empty
	// for a per-user queue.
	QueueDir string
	UID      int // the user whose mail the policies protect
	// Owner tells who owns a file (uid, true), or (0, false) when the
	// system cannot say; nil is the latter, and then no folder beside
	// QueueDir is used.
	Owner func(fs.FileInfo) (uid int, ok bool)
}

// CacheDir is where MTA-STS policies are kept between runs (a
// [Fetcher.CacheDir]): $XDG_CACHE_HOME/mailout/mta-sts, else
// $HOME/.cache/mailout/mta-sts; or, with a system-wide queue, a folder of
// this user's beside it, which queue flushes share, created if need be. A
// folder someone else owns or may write is not used, and neither is one
// without a home: the result is then "", and policies live for one run
// only, since a planted policy could downgrade this user's mail. The
// choice is here, beside the cache it guards, rather than in cmd.
func CacheDir(c CacheDirConfig) string {
	if c.QueueDir == "" {
		base := c.XDGCacheHome
		if !filepath.IsAbs(base) {
			if c.Home == "" {
				return ""
			}
			base = filepath.Join(c.Home, ".cache")
		}
		return filepath.Join(base, "mailout", "mta-sts")
	}
	dir := filepath.Join(c.QueueDir, "mta-sts-"+strconv.Itoa(c.UID))
	if err := os.Mkdir(dir, 0o700); err != nil && !os.IsExist(err) {
		return ""
	}
	fi, err := os.Lstat(dir)
	if err != nil || !fi.IsDir() || fi.Mode().Perm()&0o022 != 0 || c.Owner == nil {
		return ""
	}
	if uid, ok := c.Owner(fi); !ok || uid != c.UID {
		return ""
	}
	return dir
}
