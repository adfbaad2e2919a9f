// Package profiles loads mailout's configuration file and answers the
// questions asked of it: which file, which profile, what a local name
// expands to, and what a profile's password is.
//
// # The file
//
// [Locate] finds the file (--config, $MAILOUT_CONFIG, the XDG location,
// /etc/mailout/config.toml) and [Load] decodes it with
// github.com/BurntSushi/toml and validates it strictly: a syntax error, an
// unknown key, a wrong type or a bad value is a [*ConfigError] whose text
// names the file, the line and the key, as in
//
//	config.toml:12: profiles.work.port: port 70000 out of range 1-65535
//
// Durations are strings ("30s"); a bare number is refused rather than read as
// nanoseconds. Files named by keys (tls_ca_file, tls_cert_file, tls_key_file,
// dkim_key_file, aliases_file) must be readable when the file is loaded. A
// config file writable by group or others, or owned by another user who is
// not root, is refused, as ssh does.
//
// [Schema] describes every key once: its type, allowed values, default, doc
// line and the transports that use it. Decoding, validation, `profile show`
// ([Profile.Settings]), the man page and shell completion all derive from
// it. A key the profile's transport does not use is an error in the
// profile's own table.
//
// Each profile table (profiles.NAME) inherits every key it does not set from
// [defaults] that its transport uses; [Profile.Inherited] records which. A
// secret source counts as one key here: a profile that sets password_command
// or password_env inherits neither and no oauth keys; one that sets oauth
// inherits no password key.
//
// # Choice and aliases
//
// [Config.Choose] picks a profile by name, by the envelope sender, by
// default_profile, or as the only one. [Config.Expand] turns a bare local
// name into addresses through [aliases], aliases_file (the classic
// /etc/aliases format), the "default" alias and local_domain.
//
// # Secrets
//
// [Secrets.Lookup] reads a profile's password from its single source:
// password_command, password_env or the OS keyring ([SystemKeyring], built on
// github.com/zalando/go-keyring, which never autolaunches a D-Bus session and
// bounds each call by [KeyringTimeout]).
//
// # Errors and exit codes
//
// Configuration problems are [*ConfigError] ([IsConfigError]); failures to
// obtain a password are [*SecretError] ([IsSecretError]). The caller maps
// both to exit code 78. No error text ever holds a secret.
package profiles
