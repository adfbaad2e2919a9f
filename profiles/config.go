package profiles

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"mailout/message"
)

// Defaults for keys that are not set.
const (
	DefaultMaxQueueAge = 120 * time.Hour  // max_queue_age
	DefaultTimeout     = 30 * time.Second // timeout
	DefaultMXPort      = 25               // port of a transport = "mx" profile without mx_port
	DefaultMTASTS      = "enforce"        // mta_sts
	DefaultOAuthTenant = "organizations"  // oauth_tenant of an oauth = "microsoft" profile
)

// SystemConfigPath is the last place [Locate] looks.
const SystemConfigPath = "/etc/mailout/config.toml"

// Config is a decoded and validated configuration file.
type Config struct {
	Path           string // file it was loaded from ("" when there is none)
	DefaultProfile string
	LocalDomain    string
	AliasesFile    string // absolute path, or ""
	QueueDir       string // absolute path, or ""
	Log            string // "syslog", an absolute path, or ""
	MaxQueueAge    time.Duration

	// Aliases maps a lower-case local name to its targets: addresses or
	// further names. It holds the aliases_file entries, overridden name by
	// name by the [aliases] table. The name "default" stands for any local
	// name without an alias of its own. See [Config.Expand].
	Aliases map[string][]string

	Profiles map[string]*Profile

	// Warnings are problems that did not stop loading, such as pipe and file
	// targets skipped in aliases_file. Each names its file and line.
	Warnings []string
}

// Profile is one profile table (profiles.NAME) merged with [defaults], with every
// default applied.
type Profile struct {
	Name string

	Transport string // smtp (default), mx, graph, gmail, ses, mailgun or sparkpost
	Host      string // relay host (smtp)
	Port      int    // smtp: port, else 465 for tls, 25 for none, 587 otherwise; mx: mx_port, else 25
	TLS       string // starttls, tls, opportunistic or none; default starttls (smtp), opportunistic (mx)

	TLSCAFile      string // absolute path or ""
	TLSFingerprint string // SHA-256 of the server certificate: 64 lower-case hex digits, or ""
	TLSCertFile    string // absolute path or ""
	TLSKeyFile     string // absolute path or ""
	TLSSkipVerify  bool

	Auth               string // auto (default), plain, login, cram-md5, xoauth2, oauthbearer, scram-sha-256 or none
	Username           string
	PasswordCommand    string
	PasswordEnv        string
	AllowPlaintextAuth bool

	From        string // as written, e.g. "Me <me@example.com>"; see [Profile.FromAddress]
	FromRewrite string // local (default), always or never

	Helo    string
	Timeout time.Duration // default 30s

	// The mx keys: an mx profile's own, or an smtp profile's when --mx
	// sends through it.
	Resolver string // "IP:PORT" or ""
	MXPort   int    // mx_port; on an mx profile 25 when not set, on an smtp profile 0

	DKIMDomain, DKIMSelector, DKIMKeyFile string

	MTASTS string // off, testing or enforce (default)
	DANE   bool   // default true

	// The HTTP API transports (graph, gmail, ses, mailgun, sparkpost).
	APIURL        string // http(s) base URL overriding the provider's, or ""
	AWSRegion     string // ses
	MailgunDomain string // mailgun, where it is required

	// OAuth 2.0: OAuth is "" (none), microsoft, google or custom. The other
	// fields are set only with it; OAuthFlow and OAuthTenant then hold their
	// defaults when not written.
	OAuth                    string
	OAuthClientID            string
	OAuthTenant              string // microsoft only; default "organizations"
	OAuthFlow                string // device, browser or client_credentials; default device (microsoft, custom), browser (google)
	OAuthClientSecretCommand string // at most one of the two secret keys
	OAuthClientSecretEnv     string
	OAuthTokenFile           string   // absolute path, or "" for the keyring
	OAuthDeviceURL           string   // custom only
	OAuthAuthURL             string   // custom only
	OAuthTokenURL            string   // custom only, where it is required
	OAuthScopes              []string // custom, or an override of the provider's

	// Inherited holds the TOML keys (such as "helo") whose value came from
	// [defaults] rather than from the profile's own table.
	Inherited map[string]bool

	file   string            // config file, for errors found after loading
	origin map[string]origin // key name -> where its value was written
}

// origin is where a value was written: its dotted key and line.
type origin struct {
	key  string
	line int
}

// FromAddress returns the bare address of From ("me@example.com"), or "" when
// From is not set.
func (p *Profile) FromAddress() string {
	if a, err := message.ParseAddress(p.From); err == nil {
		return a.Address
	}
	return ""
}

// IsSet reports whether key (such as "port") was written for p, in its
// own table or in [defaults], rather than taking its built-in default.
func (p *Profile) IsSet(key string) bool {
	_, ok := p.origin[key]
	return ok || p.Inherited[key]
}

// errorAt returns a ConfigError located where key (such as
// "password_command") of p was written.
func (p *Profile) errorAt(key, msg string) *ConfigError {
	e := &ConfigError{File: p.file, Key: "profiles." + p.Name + "." + key, Msg: msg}
	if o, ok := p.origin[key]; ok {
		e.Key, e.Line = o.key, o.line
	}
	return e
}

// Names returns the profile names, sorted.
func (c *Config) Names() []string {
	names := make([]string, 0, len(c.Profiles))
	for n := range c.Profiles {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func newConfig(path string) *Config {
	return &Config{
		Path:        path,
		MaxQueueAge: DefaultMaxQueueAge,
		Aliases:     map[string][]string{},
		Profiles:    map[string]*Profile{},
	}
}

// Locate finds the configuration file. The first that applies wins:
//
//  1. explicit (--config, sendmail -C), which must exist;
//  2. $MAILOUT_CONFIG, which must exist;
//  3. $XDG_CONFIG_HOME/mailout/config.toml, or $HOME/.config/mailout/config.toml
//     when XDG_CONFIG_HOME is unset or not absolute;
//  4. [SystemConfigPath].
//
// It returns "" and no error when no file exists, which is fine for commands
// that need no profile. getenv is usually os.Getenv. Errors are
// [*ConfigError]s.
func Locate(explicit string, getenv func(string) string) (string, error) {
	return locate(explicit, getenv, SystemConfigPath)
}

func locate(explicit string, getenv func(string) string, system string) (string, error) {
	if explicit != "" {
		return explicit, mustExist(explicit)
	}
	if p := getenv("MAILOUT_CONFIG"); p != "" {
		return p, mustExist(p)
	}
	var candidates []string
	if x := getenv("XDG_CONFIG_HOME"); filepath.IsAbs(x) {
		candidates = append(candidates, filepath.Join(x, "mailout", "config.toml"))
	} else if h := getenv("HOME"); h != "" {
		candidates = append(candidates, filepath.Join(h, ".config", "mailout", "config.toml"))
	}
	candidates = append(candidates, system)
	for _, p := range candidates {
		fi, err := os.Stat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			return "", &ConfigError{File: p, Msg: "cannot read config file: " + reason(err), Err: err}
		case fi.IsDir():
			return "", &ConfigError{File: p, Msg: "config file is a directory"}
		}
		return p, nil
	}
	return "", nil
}

func mustExist(p string) error {
	fi, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &ConfigError{File: p, Msg: "config file not found", Err: err}
	case err != nil:
		return &ConfigError{File: p, Msg: "cannot read config file: " + reason(err), Err: err}
	case fi.IsDir():
		return &ConfigError{File: p, Msg: "config file is a directory"}
	}
	return nil
}

// reason is the text of err without the path that PathError repeats.
func reason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// Load reads, decodes and validates the configuration file at path. With
// path "" it returns an empty Config with the defaults set.
//
// Every problem is a [*ConfigError] naming the file, line and key: a syntax
// error, an unknown key, a wrong type, a bad value, a file named by a key that
// cannot be read, or a config file writable by group or others or owned by
// another user who is not root (as ssh refuses such files).
//
// Relative paths in the file (tls_ca_file, dkim_key_file, aliases_file,
// queue_dir, log, ...) are relative to the config file's folder; "~/" is the
// home folder.
func Load(path string) (*Config, error) {
	c := newConfig(path)
	if path == "" {
		return c, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, &ConfigError{File: path, Msg: "cannot read config file: " + reason(err), Err: err}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, &ConfigError{File: path, Msg: "cannot read config file: " + reason(err), Err: err}
	}
	if fi.IsDir() {
		return nil, &ConfigError{File: path, Msg: "config file is a directory"}
	}
	if msg := unsafeFile(fi); msg != "" {
		return nil, &ConfigError{File: path, Msg: "config file " + msg + "; refusing to use it (fix with chmod go-w or chown)"}
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, &ConfigError{File: path, Msg: "cannot read config file: " + reason(err), Err: err}
	}
	dir := filepath.Dir(path)
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	home, _ := os.UserHomeDir()
	l := &loader{file: path, dir: dir, home: home}
	if err := l.load(c, string(data)); err != nil {
		return nil, err
	}
	return c, nil
}
