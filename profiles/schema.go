package profiles

import (
	"fmt"
	"strings"
	"time"
)

// Type is the kind of value a [Key] takes, in the words the man page uses.
type Type string

// The types of [Key] values.
const (
	TypeString   Type = "string"
	TypeInteger  Type = "integer"
	TypeBoolean  Type = "boolean"
	TypeDuration Type = "duration"        // a string such as "30s"; a bare number is refused
	TypePath     Type = "path"            // a file name; relative ones are relative to the config file
	TypeURL      Type = "URL"             // http or https
	TypeList     Type = "list of strings" // a TOML array
	TypeTable    Type = "table"
)

// Key is one configuration key. [Schema] holds them all; decoding,
// validation, inheritance from [defaults], `profile show`, the man page and
// shell completion are all derived from it, so a key is described once.
type Key struct {
	Name    string   // the TOML key, such as "tls_ca_file"
	Profile bool     // a key of [defaults] and [profiles.NAME]; false for the top level
	Type    Type     // what the value is, for the man page
	Values  []string // the allowed values of an enumeration, nil otherwise
	Default string   // the built-in default in words, "" when there is none
	Doc     string   // one line, lower case, no final period

	// Transports lists the transports that use a profile key; nil means
	// every one. A key its profile's transport does not use is an error in
	// the profile's own table and is not inherited from [defaults].
	Transports []string
	// WithMX marks the mx keys an smtp profile uses only when --mx sends
	// through it.
	WithMX bool
	// OAuth is "any" for a key that needs oauth, or the one provider
	// (microsoft, custom) a key is used with; "" for the other keys.
	OAuth string

	parse func(l *loader, path []string, v any) (any, bool) // checks one value; nil: an enumeration of Values
	field func(p *Profile) any                              // profile keys: a pointer to the Profile field
	top   func(c *Config) any                               // top-level keys: a pointer to the Config field
	def   any                                               // applied when not set; nil for none or one that depends on other keys
}

// Transport names, in the order SPEC.md lists them.
var (
	allTransports = []string{"smtp", "mx", "graph", "gmail", "ses", "mailgun", "sparkpost"}
	relayOnly     = []string{"smtp"}
	smtpAndMX     = []string{"smtp", "mx"}
	apiOnly       = []string{"graph", "gmail", "ses", "mailgun", "sparkpost"}
	secretUsers   = []string{"smtp", "mailgun", "sparkpost"} // the password is an API key for the two
	oauthUsers    = []string{"smtp", "graph", "gmail"}
)

// Schema is every configuration key: the top-level ones, then the profile
// keys in the order of SPEC.md's example, which is the order of `profile
// show`.
var Schema = schema()

func schema() []Key {
	keys := []Key{
		{Name: "default_profile", Type: TypeString, Doc: "the profile used when none is chosen and no profile's from matches the sender",
			parse: (*loader).nonEmptyValue, top: func(c *Config) any { return &c.DefaultProfile }},
		{Name: "local_domain", Type: TypeString, Doc: "domain given to recipients without @",
			parse: (*loader).domain, top: func(c *Config) any { return &c.LocalDomain }},
		{Name: "aliases_file", Type: TypePath, Doc: "an aliases file in the classic format; [aliases] wins over it",
			parse: (*loader).pathValue, top: func(c *Config) any { return &c.AliasesFile }},
		{Name: "queue_dir", Type: TypePath, Default: "$XDG_STATE_HOME/mailout/queue for --queue-on-failure; sendmail mode never queues (exits 75)",
			Doc:   "the spool",
			parse: (*loader).pathValue, top: func(c *Config) any { return &c.QueueDir }},
		{Name: "max_queue_age", Type: TypeDuration, def: DefaultMaxQueueAge, Default: "120h", Doc: "give up on a queued message after this long; the sender gets a bounce",
			parse: (*loader).durationValue, top: func(c *Config) any { return &c.MaxQueueAge }},
		{Name: "log", Type: TypeString, Doc: "\"syslog\" or a file path: one line per message",
			parse: (*loader).logValue, top: func(c *Config) any { return &c.Log }},
		{Name: "aliases", Type: TypeTable, Doc: "NAME = the address(es) a local name stands for (a string or a list); the name default catches any other local name"},
		{Name: "defaults", Type: TypeTable, Doc: "profile keys every profile inherits unless it sets them (or its transport does not use them)"},
		{Name: "profiles", Type: TypeTable, Doc: "one table [profiles.NAME] per profile"},

		{Name: "transport", Type: TypeString, Values: allTransports, def: "smtp",
			Doc:   "how mail leaves: smtp through host, mx straight to each recipient's MX hosts, or an HTTP API (graph, gmail, ses, mailgun, sparkpost)",
			field: func(p *Profile) any { return &p.Transport }},
		{Name: "host", Type: TypeString, Transports: relayOnly, Doc: "the relay; the port goes in port",
			parse: (*loader).host, field: func(p *Profile) any { return &p.Host }},
		{Name: "port", Type: TypeInteger, Transports: relayOnly, Default: "587 for starttls and opportunistic, 465 for tls, 25 for none",
			Doc: "the relay's port", parse: (*loader).port, field: func(p *Profile) any { return &p.Port }},
		{Name: "tls", Type: TypeString, Values: []string{"starttls", "tls", "opportunistic", "none"}, Transports: smtpAndMX,
			Default: "starttls (smtp), opportunistic (mx)", Doc: "TLS: STARTTLS required, TLS from the first byte, STARTTLS when offered, or none",
			field: func(p *Profile) any { return &p.TLS }},
		{Name: "tls_ca_file", Type: TypePath, Transports: smtpAndMX, Doc: "an extra CA bundle (PEM)",
			parse: (*loader).caFile, field: func(p *Profile) any { return &p.TLSCAFile }},
		{Name: "tls_fingerprint", Type: TypeString, Transports: smtpAndMX, Doc: "SHA-256 of the server certificate (64 hex digits, colons allowed), which pins it",
			parse: (*loader).fingerprint, field: func(p *Profile) any { return &p.TLSFingerprint }},
		{Name: "tls_cert_file", Type: TypePath, Transports: smtpAndMX, Doc: "client certificate (PEM), with tls_key_file",
			parse: (*loader).readableFile, field: func(p *Profile) any { return &p.TLSCertFile }},
		{Name: "tls_key_file", Type: TypePath, Transports: smtpAndMX, Doc: "client key (PEM), with tls_cert_file",
			parse: (*loader).readableFile, field: func(p *Profile) any { return &p.TLSKeyFile }},
		{Name: "tls_skip_verify", Type: TypeBoolean, Transports: smtpAndMX, Doc: "do not verify the server certificate (a loud warning on stderr and in the log)",
			parse: (*loader).boolValue, field: func(p *Profile) any { return &p.TLSSkipVerify }},
		{Name: "auth", Type: TypeString, Values: []string{"auto", "plain", "login", "cram-md5", "xoauth2", "oauthbearer", "scram-sha-256", "none"},
			Transports: relayOnly, def: "auto",
			Doc:   "the SASL mechanism; auto over TLS prefers SCRAM-SHA-256, then PLAIN, then LOGIN (on an OAuth profile OAUTHBEARER, then XOAUTH2); CRAM-MD5 only when set",
			field: func(p *Profile) any { return &p.Auth }},
		{Name: "username", Type: TypeString, Transports: relayOnly, Doc: "the AUTH user; a secret is looked up only when the server offers AUTH",
			parse: (*loader).strValue, field: func(p *Profile) any { return &p.Username }},
		{Name: "password_command", Type: TypeString, Transports: secretUsers,
			Doc:   "a command printing the secret (an API key for mailgun and sparkpost) on its first line; stdin /dev/null, 10 s timeout",
			parse: (*loader).strValue, field: func(p *Profile) any { return &p.PasswordCommand }},
		{Name: "password_env", Type: TypeString, Transports: secretUsers, Default: "with neither password key, the OS keyring (service mailout, user = profile name)",
			Doc:   "an environment variable holding the secret",
			parse: (*loader).envName, field: func(p *Profile) any { return &p.PasswordEnv }},
		{Name: "allow_plaintext_auth", Type: TypeBoolean, Transports: relayOnly, Doc: "allow AUTH without TLS to hosts other than loopback",
			parse: (*loader).boolValue, field: func(p *Profile) any { return &p.AllowPlaintextAuth }},
		{Name: "from", Type: TypeString, Doc: "the sender address; also chooses this profile when it equals -r",
			parse: (*loader).from, field: func(p *Profile) any { return &p.From }},
		{Name: "from_rewrite", Type: TypeString, Values: []string{"local", "always", "never"}, def: "local",
			Doc:   "sendmail mode: put from in place of a local sender, of every sender, or never",
			field: func(p *Profile) any { return &p.FromRewrite }},
		{Name: "helo", Type: TypeString, Transports: smtpAndMX, Default: "this host's FQDN, else an address literal", Doc: "the name given in HELO/EHLO",
			parse: (*loader).optWord, field: func(p *Profile) any { return &p.Helo }},
		{Name: "timeout", Type: TypeDuration, def: DefaultTimeout, Doc: "per connect and per read or write of inactivity, not in total",
			parse: (*loader).durationValue, field: func(p *Profile) any { return &p.Timeout }},
		{Name: "resolver", Type: TypeString, Transports: smtpAndMX, WithMX: true, Default: "the system's",
			Doc:   "DNS server for MX lookups, IP:PORT such as \"127.0.0.1:53\"",
			parse: (*loader).resolver, field: func(p *Profile) any { return &p.Resolver }},
		{Name: "mx_port", Type: TypeInteger, Transports: smtpAndMX, WithMX: true, Default: "25", Doc: "port of the MX hosts (for testing only)",
			parse: (*loader).port, field: func(p *Profile) any { return &p.MXPort }},
		{Name: "dkim_domain", Type: TypeString, Transports: smtpAndMX, Doc: "sign with DKIM for this domain (d=); needs dkim_selector and dkim_key_file",
			parse: (*loader).optWord, field: func(p *Profile) any { return &p.DKIMDomain }},
		{Name: "dkim_selector", Type: TypeString, Transports: smtpAndMX, Doc: "the DKIM selector (s=)",
			parse: (*loader).optWord, field: func(p *Profile) any { return &p.DKIMSelector }},
		{Name: "dkim_key_file", Type: TypePath, Transports: smtpAndMX, Doc: "the DKIM private key, RSA or Ed25519, PEM",
			parse: (*loader).dkimKeyFile, field: func(p *Profile) any { return &p.DKIMKeyFile }},
		{Name: "mta_sts", Type: TypeString, Values: []string{"off", "testing", "enforce"}, Transports: smtpAndMX, WithMX: true, def: DefaultMTASTS,
			Doc:   "MTA-STS (RFC 8461): honour each domain's policy as published, only report, or no lookups",
			field: func(p *Profile) any { return &p.MTASTS }},
		{Name: "dane", Type: TypeBoolean, Transports: smtpAndMX, WithMX: true, def: true,
			Doc:   "DANE-TLSA (RFC 7672) when the resolver validates DNSSEC (AD bit)",
			parse: (*loader).boolValue, field: func(p *Profile) any { return &p.DANE }},
		{Name: "api_url", Type: TypeURL, Transports: apiOnly, Default: "the provider's", Doc: "the API's base URL (EU regions, national clouds, tests)",
			parse: (*loader).httpURL, field: func(p *Profile) any { return &p.APIURL }},
		{Name: "aws_region", Type: TypeString, Transports: []string{"ses"}, Default: "the AWS default chain's", Doc: "the SES region",
			parse: (*loader).optWord, field: func(p *Profile) any { return &p.AWSRegion }},
		{Name: "mailgun_domain", Type: TypeString, Transports: []string{"mailgun"}, Doc: "the Mailgun sending domain (required)",
			parse: (*loader).optWord, field: func(p *Profile) any { return &p.MailgunDomain }},
		{Name: "oauth", Type: TypeString, Values: []string{"", "microsoft", "google", "custom"}, Transports: oauthUsers,
			Doc:   "get and refresh OAuth 2.0 tokens from this provider (required by graph and gmail); no password key then",
			field: func(p *Profile) any { return &p.OAuth }},
		{Name: "oauth_client_id", Type: TypeString, Transports: oauthUsers, OAuth: "any", Doc: "the app registration's client ID (required)",
			parse: (*loader).optWord, field: func(p *Profile) any { return &p.OAuthClientID }},
		{Name: "oauth_tenant", Type: TypeString, Transports: oauthUsers, OAuth: "microsoft", Default: DefaultOAuthTenant, Doc: "the Microsoft Entra tenant",
			parse: (*loader).optWord, field: func(p *Profile) any { return &p.OAuthTenant }},
		{Name: "oauth_flow", Type: TypeString, Values: []string{"device", "browser", "client_credentials"}, Transports: oauthUsers, OAuth: "any",
			Default: "device (microsoft, custom), browser (google)",
			Doc:     "device code (RFC 8628), browser with a loopback redirect and PKCE (RFC 8252, 7636), or unattended client credentials",
			field:   func(p *Profile) any { return &p.OAuthFlow }},
		{Name: "oauth_client_secret_command", Type: TypeString, Transports: oauthUsers, OAuth: "any",
			Doc:   "a command printing the client secret (client_credentials, or a client that has one)",
			parse: (*loader).strValue, field: func(p *Profile) any { return &p.OAuthClientSecretCommand }},
		{Name: "oauth_client_secret_env", Type: TypeString, Transports: oauthUsers, OAuth: "any", Doc: "an environment variable holding the client secret",
			parse: (*loader).envName, field: func(p *Profile) any { return &p.OAuthClientSecretEnv }},
		{Name: "oauth_token_file", Type: TypePath, Transports: oauthUsers, OAuth: "any", Default: "the keyring (service mailout-oauth, user = profile name)",
			Doc:   "where the refresh token lives when no keyring serves (0600); absolute or ~/",
			parse: (*loader).absPath, field: func(p *Profile) any { return &p.OAuthTokenFile }},
		{Name: "oauth_device_url", Type: TypeURL, Transports: oauthUsers, OAuth: "custom", Doc: "the device authorization endpoint (oauth_flow device)",
			parse: (*loader).httpURL, field: func(p *Profile) any { return &p.OAuthDeviceURL }},
		{Name: "oauth_auth_url", Type: TypeURL, Transports: oauthUsers, OAuth: "custom", Doc: "the authorization endpoint (oauth_flow browser)",
			parse: (*loader).httpURL, field: func(p *Profile) any { return &p.OAuthAuthURL }},
		{Name: "oauth_token_url", Type: TypeURL, Transports: oauthUsers, OAuth: "custom", Doc: "the token endpoint (required)",
			parse: (*loader).httpURL, field: func(p *Profile) any { return &p.OAuthTokenURL }},
		{Name: "oauth_scopes", Type: TypeList, Transports: oauthUsers, OAuth: "any", Default: "the provider's", Doc: "the scopes to ask for",
			parse: (*loader).words, field: func(p *Profile) any { return &p.OAuthScopes }},
	}
	for i := range keys {
		k := &keys[i]
		k.Profile = k.field != nil
		if k.Default == "" && k.def != nil {
			k.Default = fmt.Sprint(k.def)
		}
	}
	return keys
}

// Lookup returns the key named name.
func Lookup(name string) (Key, bool) {
	for _, k := range Schema {
		if k.Name == name {
			return k, true
		}
	}
	return Key{}, false
}

// UsedBy reports whether a profile of transport uses the key.
func (k Key) UsedBy(transport string) bool {
	if k.Transports == nil {
		return true
	}
	for _, t := range k.Transports {
		if t == transport {
			return true
		}
	}
	return false
}

// keyNames are the names of the profile keys (profile true) or of the
// top-level ones, for "did you mean" hints.
func keyNames(profile bool) []string {
	var names []string
	for _, k := range Schema {
		if k.Profile == profile {
			names = append(names, k.Name)
		}
	}
	return names
}

// profileKey returns the profile key named name.
func profileKey(name string) (Key, bool) {
	k, ok := Lookup(name)
	return k, ok && k.Profile
}

// Setting is one effective key of a profile, as `profile show` prints it.
type Setting struct {
	Key    string `json:"key"`
	Value  any    `json:"value"`  // string, int, bool or []string; a duration as its string
	Origin string `json:"origin"` // "profile", "defaults" or "default"
	Note   string `json:"note,omitempty"`
}

// Settings lists, in [Schema] order, the keys p's transport uses that the
// profile or [defaults] set, and every built-in default that applies. An
// smtp profile's mx-only keys (resolver, mx_port, mta_sts, dane) are listed
// only when set. hostname is what an unset helo stands for.
func (p *Profile) Settings(hostname string) []Setting {
	var out []Setting
	for _, k := range Schema {
		if !k.Profile || !k.UsedBy(p.Transport) {
			continue
		}
		v := value(k.field(p))
		set := Setting{Key: k.Name, Value: v, Origin: "profile"}
		switch {
		case p.Inherited[k.Name]:
			set.Origin = "defaults"
		case isZero(v):
			if k.Name != "helo" {
				continue
			}
			set.Value, set.Origin, set.Note = hostname, "default", k.Default
		case p.IsSet(k.Name):
		case k.WithMX && p.Transport == "smtp":
			continue
		default:
			set.Origin = "default"
		}
		out = append(out, set)
	}
	return out
}

// value is what a field pointer holds; durations become strings, as the
// file writes them.
func value(ptr any) any {
	switch f := ptr.(type) {
	case *string:
		return *f
	case *int:
		return *f
	case *bool:
		return *f
	case *time.Duration:
		return f.String()
	case *[]string:
		return *f
	}
	panic(fmt.Sprintf("profiles: field of type %T", ptr))
}

// assign stores a decoded value (see [setting]) in a field pointer.
func assign(ptr, v any) {
	switch f := ptr.(type) {
	case *string:
		*f = v.(string)
	case *int:
		*f = v.(int)
	case *bool:
		*f = v.(bool)
	case *time.Duration:
		*f = v.(time.Duration)
	case *[]string:
		*f = v.([]string)
	default:
		panic(fmt.Sprintf("profiles: field of type %T", ptr))
	}
}

func isZero(v any) bool {
	switch x := v.(type) {
	case string:
		return x == ""
	case int:
		return x == 0
	case bool:
		return !x
	case []string:
		return len(x) == 0
	}
	return false
}

// typeArticle is the article the man page puts before a type it names;
// strings and tables go unnamed.
var typeArticle = map[Type]string{
	TypeInteger: "an", TypeBoolean: "a", TypeDuration: "a", TypePath: "a", TypeURL: "an http or https", TypeList: "a",
}

// Describe is the key's documentation in one line: its doc, its values,
// its default and where it applies, for the man page.
func (k Key) Describe() string {
	parts := []string{k.Doc}
	if k.Values != nil {
		vals := make([]string, len(k.Values))
		for i, v := range k.Values {
			vals[i] = v
			if v == "" {
				vals[i] = `""`
			}
		}
		parts = append(parts, "one of "+strings.Join(vals, ", "))
	} else if a := typeArticle[k.Type]; a != "" {
		parts = append(parts, a+" "+string(k.Type))
	}
	if k.Default != "" {
		parts = append(parts, "default: "+k.Default)
	}
	if k.Transports != nil {
		ts := append([]string(nil), k.Transports...)
		for i, t := range ts {
			if t == "smtp" && k.WithMX {
				ts[i] = "smtp (with --mx)"
			}
		}
		parts = append(parts, "transports: "+strings.Join(ts, ", "))
	}
	switch k.OAuth {
	case "":
	case "any":
		parts = append(parts, "needs oauth")
	default:
		parts = append(parts, fmt.Sprintf("only with oauth = %q", k.OAuth))
	}
	return strings.Join(parts, "; ")
}
