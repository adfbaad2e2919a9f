package cmd

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"mailout/delivery"
	"mailout/internal/text"
	"mailout/message"
	"mailout/profiles"
)

// profileCommands is what `mailout profile` accepts, for its errors.
const profileCommands = "list, show, test, set-password, delete-password, login or logout"

// maxSecretBytes bounds a password read from standard input: a secret is a
// line, and a file piped by mistake should not fill the keyring.
const maxSecretBytes = 4096

// newProfileCommand is `mailout profile`.
func (r *runner) newProfileCommand() *cli.Command {
	return &cli.Command{
		Name:            "profile",
		Usage:           "list, show and test profiles; manage their passwords",
		ArgsUsage:       "list | show NAME | test [NAME] | set-password NAME | delete-password NAME | login NAME [--device|--browser] | logout NAME",
		HideHelpCommand: true,
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usageErrorf("profile: missing command: want %s", profileCommands)
			}
			return usageErrorf("profile: unknown command %q: want %s", c.Args().First(), profileCommands)
		},
		Subcommands: append([]*cli.Command{
			{
				Name:   "list",
				Usage:  "list the profiles; * marks the one used when none is chosen",
				Action: profileAction(r.profileList),
			},
			{
				Name:      "show",
				Usage:     "show every effective setting of a profile and where its password comes from",
				ArgsUsage: "NAME",
				Action:    profileAction(r.profileShow),
			},
			{
				Name:      "test",
				Usage:     "connect, start TLS and authenticate without sending; for an mx profile, try the MX hosts of --to DOMAIN",
				ArgsUsage: "[NAME]",
				Flags: append(testDeliveryFlags(),
					&cli.StringFlag{Name: "to", Usage: "mx profiles: the `DOMAIN` (or address) whose mail exchangers to try"}),
				Action: profileAction(r.profileTest),
			},
			{
				Name:      "set-password",
				Usage:     "store a profile's password in the keyring (read without echo on a terminal, else from stdin)",
				ArgsUsage: "NAME",
				Action:    profileAction(r.profileSetPassword),
			},
			{
				Name:      "delete-password",
				Usage:     "remove a profile's password from the keyring",
				ArgsUsage: "NAME",
				Action:    profileAction(r.profileDeletePassword),
			},
		}, r.oauthCommands()...),
	}
}

// testDeliveryFlags are the delivery flags that make sense without a
// message: a test never queues.
func testDeliveryFlags() []cli.Flag {
	var out []cli.Flag
	for _, f := range deliveryFlags() {
		if f.Names()[0] != "queue-on-failure" {
			out = append(out, f)
		}
	}
	return out
}

// profileOptions is what the profile subcommands' flags and arguments say.
type profileOptions struct {
	command         string // the subcommand, for messages
	config          string // --config
	name            string // the NAME argument, else -P/--profile
	json, verbose   bool
	del             deliveryOptions // test
	to              string          // test --to
	device, browser bool            // login
}

// profileAction reads a profile subcommand's options and runs it. Every
// subcommand takes at most one NAME (list none), which must agree with -P.
func profileAction(run func(context.Context, profileOptions) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		o := profileOptions{command: c.Command.Name, config: globalString(c, "config"),
			json: globalBool(c, "json"), verbose: globalBool(c, "verbose"), del: readDeliveryOptions(c),
			device: c.Bool("device"), browser: c.Bool("browser")}
		if o.command == "test" {
			// Only test has --to; elsewhere c.String would find send's --to.
			o.to = c.String("to")
		}
		switch {
		case o.command == "list" && c.NArg() > 0:
			return usageErrorf("profile list takes no arguments")
		case c.NArg() > 1:
			return usageErrorf("profile %s: one profile NAME, got %d arguments", o.command, c.NArg())
		}
		name, flag := c.Args().First(), globalString(c, "profile")
		if name != "" && flag != "" && name != flag {
			return usageErrorf("profile %s: NAME %q and -P %q disagree", o.command, name, flag)
		}
		if o.name = name; name == "" {
			o.name = flag
		}
		return run(c.Context, o)
	}
}

// namedProfile loads the config and returns the profile NAME names, which
// must be given and must exist.
func (r *runner) namedProfile(o profileOptions) (*profiles.Profile, error) {
	if o.name == "" {
		return nil, usageErrorf("profile %s: missing profile NAME", o.command)
	}
	cfg, err := r.loadConfig(o.config)
	if err != nil {
		return nil, err
	}
	return cfg.Choose(o.name, "")
}

// listEntry is one profile in `profile list --json`.
type listEntry struct {
	Name      string `json:"name"`
	Default   bool   `json:"default"`
	Transport string `json:"transport"`
	Host      string `json:"host,omitempty"`
	Port      int    `json:"port,omitempty"`
	APIURL    string `json:"api_url,omitempty"`
	From      string `json:"from,omitempty"`
}

func (r *runner) profileList(_ context.Context, o profileOptions) error {
	cfg, err := r.loadConfig(o.config)
	if err != nil {
		return err
	}
	if cfg.Path == "" {
		return hinted(withCode(exitConfig, errors.New("no configuration file found")),
			"create ~/.config/mailout/config.toml with a [profiles.NAME] table")
	}
	def := ""
	if p, err := cfg.Choose("", ""); err == nil {
		def = p.Name
	}
	entries := []listEntry{}
	for _, n := range cfg.Names() {
		p := cfg.Profiles[n]
		e := listEntry{Name: n, Default: n == def, Transport: p.Transport, Host: p.Host, Port: p.Port,
			APIURL: p.APIURL, From: p.From}
		entries = append(entries, e)
	}
	if o.json {
		return writeJSON(r.env.Stdout, entries)
	}
	tw := newColumns(r.env.Stdout)
	fmt.Fprintln(tw, "  NAME\tTRANSPORT\tSERVER\tFROM")
	for _, e := range entries {
		mark, server, from := " ", "(MX of each recipient)", e.From
		if e.Default {
			mark = "*"
		}
		switch {
		case e.Transport == "smtp":
			server = net.JoinHostPort(e.Host, strconv.Itoa(e.Port))
		case e.APIURL != "":
			server = e.APIURL
		case e.Transport != "mx":
			server = "(" + e.Transport + " API)"
		}
		if from == "" {
			from = "-"
		}
		fmt.Fprintf(tw, "%s %s\t%s\t%s\t%s\n", mark, e.Name, e.Transport, server, from)
	}
	return tw.flush()
}

// showReport is `profile show --json`.
type showReport struct {
	Profile  string             `json:"profile"`
	Config   string             `json:"config"`
	Settings []profiles.Setting `json:"settings"`
	Secret   string             `json:"secret"` // where the password comes from, never the password
}

// secretSource says where p's password would come from, or why none is
// needed.
func (r *runner) secretSource(p *profiles.Profile) string {
	switch {
	case p.Transport == "mx":
		return "none (direct MX delivery does not authenticate)"
	case p.OAuth != "":
		return r.oauthState(p)
	case p.Transport == "ses":
		return "none (ses takes AWS credentials from the default chain)"
	case p.Transport == "smtp" && (p.Username == "" || p.Auth == "none"):
		return "none (no AUTH: the profile has no username)"
	}
	return r.secrets().Source(p)
}

func (r *runner) profileShow(_ context.Context, o profileOptions) error {
	p, err := r.namedProfile(o)
	if err != nil {
		return err
	}
	cfg, _ := r.loadConfig(o.config)
	rep := showReport{Profile: p.Name, Config: cfg.Path, Settings: p.Settings(r.shownHelo()), Secret: r.secretSource(p)}
	if o.json {
		return writeJSON(r.env.Stdout, rep)
	}
	tw := newColumns(r.env.Stdout)
	fmt.Fprintf(tw, "# profile %q from %s\n", p.Name, cfg.Path)
	fmt.Fprintf(tw, "[profiles.%s]\n", tomlKey(p.Name))
	for _, s := range rep.Settings {
		comment := ""
		switch s.Origin {
		case "defaults":
			comment = "# from [defaults]"
		case "default":
			comment = "# default"
		}
		if s.Note != "" {
			comment += " (" + s.Note + ")"
		}
		fmt.Fprintf(tw, "%s = %s\t%s\n", s.Key, tomlValue(s.Value), comment)
	}
	fmt.Fprintf(tw, "# password: %s\n", rep.Secret)
	return tw.flush()
}

// tomlKey quotes a table name that is not a bare TOML key.
func tomlKey(s string) string {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return strconv.Quote(s)
		}
	}
	return s
}

func tomlValue(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case []string:
		q := make([]string, len(x))
		for i, s := range x {
			q[i] = strconv.Quote(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	return fmt.Sprint(v)
}

// testReport is what `profile test` found, printed as text or --json.
type testReport struct {
	Profile       string       `json:"profile,omitempty"`
	Server        string       `json:"server,omitempty"`
	Extensions    []string     `json:"extensions,omitempty"`
	TLS           *tlsReport   `json:"tls,omitempty"`
	AuthUser      string       `json:"auth_user,omitempty"`      // the username, also when AUTH was not used
	AuthMechanism string       `json:"auth_mechanism,omitempty"` // set only when AUTH succeeded
	Domain        string       `json:"domain,omitempty"`
	MX            []mxReport   `json:"mx,omitempty"`
	MTASTS        *stsReport   `json:"mta_sts,omitempty"`
	SPF           *spfReport   `json:"spf,omitempty"`
	DKIM          *dkimReport  `json:"dkim,omitempty"`
	API           *apiReport   `json:"api,omitempty"`
	OAuth         *oauthReport `json:"oauth,omitempty"`
	ExitCode      int          `json:"exit_code"`
	Error         string       `json:"error,omitempty"`
}

type apiReport struct {
	Transport   string `json:"transport"`
	URL         string `json:"url"`
	Credentials string `json:"credentials,omitempty"`
}

type tlsReport struct {
	Version     string    `json:"version"`
	Cipher      string    `json:"cipher"`
	Subject     string    `json:"subject,omitempty"`
	Issuer      string    `json:"issuer,omitempty"`
	NotAfter    time.Time `json:"not_after"`
	Fingerprint string    `json:"sha256,omitempty"`
}

type mxReport struct {
	Host       string   `json:"host"`
	Preference uint16   `json:"preference"`
	Implicit   bool     `json:"implicit,omitempty"`
	Addr       string   `json:"addr,omitempty"`
	Answered   bool     `json:"answered"`
	STARTTLS   bool     `json:"starttls"`
	Extensions []string `json:"extensions,omitempty"`
	Error      string   `json:"error,omitempty"`
	// TLSPolicy is how delivery would protect the host (dane, mta-sts; ""
	// for the profile's tls mode); PolicyError why it would skip it.
	TLSPolicy   string `json:"tls_policy,omitempty"`
	PolicyError string `json:"policy_error,omitempty"`
}

// stsReport is the MTA-STS policy delivery would apply to the domain.
type stsReport struct {
	Mode  string   `json:"mode,omitempty"` // as applied: enforce or testing; "" for none
	ID    string   `json:"id,omitempty"`
	MX    []string `json:"mx,omitempty"`
	Error string   `json:"error,omitempty"`
}

type spfReport struct {
	Domain string `json:"domain"`
	Record string `json:"record,omitempty"`
	Error  string `json:"error,omitempty"`
}

type dkimReport struct {
	Name   string `json:"name"`
	Record string `json:"record"`
}

func (r *runner) profileTest(ctx context.Context, o profileOptions) error {
	rep := &testReport{}
	err := r.runProfileTest(ctx, o, rep)
	if o.json {
		rep.ExitCode = exitCode(err)
		if err != nil {
			rep.Error = text.OneLine(err.Error())
		}
		if werr := writeJSON(r.env.Stdout, rep); werr != nil && err == nil {
			return werr
		}
		return err
	}
	if err != nil {
		return err
	}
	return r.printTestReport(rep)
}

func (r *runner) runProfileTest(ctx context.Context, po profileOptions, rep *testReport) error {
	del, name := po.del, po.name
	del.profile = name
	if err := del.validate(); err != nil {
		return err
	}
	if del.server != "" && name != "" {
		return usageErrorf("profile test: --server ignores profiles; give either NAME or --server")
	}
	var p *profiles.Profile
	if del.server == "" {
		cfg, err := r.loadConfig(del.config)
		if err != nil {
			return err
		}
		if p, err = r.chooseProfile(cfg, del, "", false); err != nil {
			return err
		}
		if p != nil {
			rep.Profile = p.Name
		}
	}
	o, err := r.deliveryOptions(p, del)
	if err != nil {
		return err
	}
	r.warnHelo(o)
	to := po.to
	if o.Transport == delivery.TransportMX {
		return r.testMX(ctx, p, o, to, rep)
	}
	if to != "" {
		return usageErrorf("profile test: --to goes with an mx profile or --mx")
	}
	if o.Transport.IsAPI() {
		return r.testAPI(ctx, p, o, rep)
	}
	pr, err := delivery.Probe(ctx, o, "")
	if pr != nil {
		rep.Server = pr.Server
	}
	if err != nil {
		return err
	}
	rep.Extensions = pr.Extensions
	if pr.TLS != nil {
		rep.TLS = describeTLS(*pr.TLS)
	}
	rep.AuthUser, rep.AuthMechanism = pr.AuthUser, pr.AuthMechanism
	rep.OAuth = r.testOAuth(p)
	return nil
}

// warnHelo warns about an EHLO name that is not fully qualified, which
// relays and MX hosts requiring one (Postfix's
// reject_non_fqdn_helo_hostname) refuse. An address literal, the default
// without an FQDN, is fine.
func (r *runner) warnHelo(o delivery.Options) {
	helo := o.Relay.Helo
	switch {
	case o.Transport.IsAPI():
		return
	case o.Transport == delivery.TransportMX:
		helo = o.MX.Helo
	}
	if helo == "" || strings.HasPrefix(helo, "[") || strings.Contains(strings.Trim(helo, "."), ".") {
		return
	}
	fmt.Fprintf(r.env.Stderr, "mailout: warning: helo name %q is not fully qualified; servers that require an FQDN refuse it: set helo to this host's full name\n", helo)
}

func describeTLS(st tls.ConnectionState) *tlsReport {
	t := &tlsReport{Version: tls.VersionName(st.Version), Cipher: tls.CipherSuiteName(st.CipherSuite)}
	if len(st.PeerCertificates) > 0 {
		cert := st.PeerCertificates[0]
		t.Subject, t.Issuer = cert.Subject.String(), cert.Issuer.String()
		t.NotAfter = cert.NotAfter.UTC()
		t.Fingerprint = delivery.Fingerprint(cert.Raw)
	}
	return t
}

// testMX resolves the domain of --to and greets each of its mail
// exchangers, then checks what receivers will check of the sender: SPF
// for the From domain, and prints the DKIM record to publish.
func (r *runner) testMX(ctx context.Context, p *profiles.Profile, o delivery.Options, to string, rep *testReport) error {
	if to == "" {
		return usageErrorf("profile test: an mx profile needs --to DOMAIN, the domain whose mail exchangers to try")
	}
	domain := to
	if i := strings.LastIndexByte(to, '@'); i >= 0 {
		domain = to[i+1:]
	}
	rep.Domain = domain
	txt, ok := o.MX.Resolver.(delivery.TXTResolver)
	if !ok {
		txt = net.DefaultResolver
	}
	pr, err := delivery.Probe(ctx, o, domain)
	if err != nil {
		return err
	}
	hosts := pr.MX
	var errs []error
	for _, h := range hosts {
		m := mxReport{Host: h.Host, Preference: h.Preference, Implicit: h.Implicit, Addr: h.Addr,
			Answered: h.Answered, STARTTLS: h.STARTTLS, Extensions: h.Extensions, TLSPolicy: h.TLSPolicy}
		if h.Err != nil {
			m.Error = text.OneLine(h.Err.Error())
			errs = append(errs, h.Err)
		}
		if h.PolicyErr != nil {
			m.PolicyError = text.OneLine(h.PolicyErr.Error())
		}
		rep.MX = append(rep.MX, m)
	}
	if pol := pr.Policy; pol != nil {
		rep.MTASTS = &stsReport{Mode: pol.MTASTS, ID: pol.PolicyID, MX: pol.MX}
		if pol.Err != nil {
			rep.MTASTS.Error = text.OneLine(pol.Err.Error())
		}
	}

	if err := r.checkSPF(ctx, txt, p, rep, delivery.SPFMechanism(delivery.TransportMX)); err != nil {
		return err
	}

	if d := o.DKIM; d != nil {
		rep.DKIM = &dkimReport{Name: d.Selector + "._domainkey." + d.Domain, Record: delivery.DKIMRecord(d.Key)}
	}

	for _, h := range hosts {
		if h.Answered {
			return nil
		}
	}
	return delivery.Worst(errs...)
}

// checkSPF looks up the From domain's SPF record, as receivers will, and
// warns when there is none, or when it does not name mech, the
// mechanism that covers the servers sending for this profile (see
// delivery.SPFMechanism and delivery.SPFNames).
func (r *runner) checkSPF(ctx context.Context, txt delivery.TXTResolver, p *profiles.Profile, rep *testReport, mech string) error {
	from, err := r.defaultFrom(p)
	if err != nil {
		return err
	}
	fromDomain := message.Domain(from.Address)
	spf := &spfReport{Domain: fromDomain}
	rec, found, err := delivery.LookupSPF(ctx, txt, fromDomain)
	switch {
	case errors.Is(err, delivery.ErrMultipleSPF):
		spf.Record, spf.Error = rec, "more than one SPF record: receivers treat that as a permanent error"
	case err != nil:
		spf.Error = text.OneLine(err.Error())
	case found:
		spf.Record = rec
	}
	rep.SPF = spf
	switch {
	case spf.Record == "" && spf.Error == "":
		fmt.Fprintf(r.env.Stderr, "mailout: warning: %s publishes no SPF record; receivers may refuse or junk mail from this host: publish a TXT record such as \"v=spf1 %s ~all\"\n", fromDomain, mech)
	case spf.Record != "" && !delivery.SPFNames(spf.Record, mech):
		fmt.Fprintf(r.env.Stderr, "mailout: warning: the SPF record of %s does not name %s; add it, or receivers may refuse or junk what the provider sends for you\n", fromDomain, mech)
	}
	return nil
}

// testAPI proves an API profile's credentials with the provider's cheap
// authenticated call (or by getting a token) and checks the From
// domain's SPF for the provider's servers.
func (r *runner) testAPI(ctx context.Context, p *profiles.Profile, o delivery.Options, rep *testReport) error {
	pr, err := delivery.Probe(ctx, o, "")
	if pr != nil {
		rep.API = &apiReport{Transport: string(o.Transport), URL: pr.URL, Credentials: pr.Credentials}
	}
	if err != nil {
		return err
	}
	rep.OAuth = r.testOAuth(p)
	txt := r.env.TXT
	if txt == nil {
		txt = net.DefaultResolver
	}
	return r.checkSPF(ctx, txt, p, rep, delivery.SPFMechanism(o.Transport))
}

func (r *runner) printTestReport(rep *testReport) error {
	tw := newColumns(r.env.Stdout)
	if rep.Profile != "" {
		fmt.Fprintf(tw, "profile\t%s\n", rep.Profile)
	}
	if rep.Domain != "" {
		return r.printMXReport(tw, rep)
	}
	if a := rep.API; a != nil {
		fmt.Fprintf(tw, "transport\t%s\n", a.Transport)
		fmt.Fprintf(tw, "endpoint\t%s\n", a.URL)
		fmt.Fprintf(tw, "credentials\tok: %s\n", a.Credentials)
		r.printOAuthReport(tw, rep.OAuth)
		r.printSPF(tw, rep.SPF)
		fmt.Fprintf(tw, "result\tok: nothing was sent\n")
		return tw.flush()
	}
	fmt.Fprintf(tw, "server\t%s\n", rep.Server)
	fmt.Fprintf(tw, "capabilities\t%s\n", strings.Join(rep.Extensions, ", "))
	if t := rep.TLS; t != nil {
		fmt.Fprintf(tw, "tls\t%s, %s\n", t.Version, t.Cipher)
		if t.Fingerprint != "" {
			fmt.Fprintf(tw, "certificate\t%s\n", t.Subject)
			fmt.Fprintf(tw, "issuer\t%s\n", t.Issuer)
			fmt.Fprintf(tw, "expires\t%s%s\n", t.NotAfter.Format("2006-01-02 15:04:05 MST"), r.expiryNote(t.NotAfter))
			fmt.Fprintf(tw, "sha256\t%s\n", t.Fingerprint)
		}
	} else {
		fmt.Fprintf(tw, "tls\tnone: the connection is not encrypted\n")
	}
	switch {
	case rep.AuthMechanism != "":
		fmt.Fprintf(tw, "auth\tauthenticated as %s with %s\n", rep.AuthUser, rep.AuthMechanism)
	case rep.AuthUser == "":
		fmt.Fprintf(tw, "auth\tnone (no username configured)\n")
	default:
		fmt.Fprintf(tw, "auth\tnone (auth = \"none\")\n")
	}
	r.printOAuthReport(tw, rep.OAuth)
	fmt.Fprintf(tw, "result\tok: connected; nothing was sent\n")
	return tw.flush()
}

func (r *runner) printSPF(tw *columns, s *spfReport) {
	switch {
	case s == nil:
	case s.Error != "":
		fmt.Fprintf(tw, "spf\t%s: %s\n", s.Domain, s.Error)
	case s.Record != "":
		fmt.Fprintf(tw, "spf\t%s: %q\n", s.Domain, s.Record)
	default:
		fmt.Fprintf(tw, "spf\t%s: none\n", s.Domain)
	}
}

func (r *runner) expiryNote(t time.Time) string {
	left := t.Sub(r.env.Now())
	switch {
	case left < 0:
		return " (EXPIRED)"
	case left < 24*time.Hour:
		return " (expires within a day)"
	}
	return fmt.Sprintf(" (in %d days)", int(left.Hours()/24))
}

func (r *runner) printMXReport(tw *columns, rep *testReport) error {
	fmt.Fprintf(tw, "domain\t%s\n", rep.Domain)
	if s := rep.MTASTS; s != nil {
		switch {
		case s.Mode != "":
			fmt.Fprintf(tw, "mta-sts\t%s (policy id %s), mx %s\n", s.Mode, s.ID, strings.Join(s.MX, " "))
		case s.Error != "":
			fmt.Fprintf(tw, "mta-sts\tnone usable (%s): opportunistic TLS\n", s.Error)
		default:
			fmt.Fprintf(tw, "mta-sts\tnone\n")
		}
	}
	for _, m := range rep.MX {
		host := fmt.Sprintf("%d %s", m.Preference, m.Host)
		if m.Implicit {
			host = m.Host + " (no MX record: the domain itself)"
		}
		state := "no answer: " + m.Error
		if m.Answered {
			state = "answers at " + m.Addr + ", no STARTTLS"
			if m.STARTTLS {
				state = "answers at " + m.Addr + ", offers STARTTLS"
			}
		}
		// The probe does no TLS handshake: say what delivery will demand,
		// and that a host without STARTTLS then gets no mail.
		policy := map[string]string{delivery.TLSByDANE: "DANE", delivery.TLSByMTASTS: "MTA-STS"}[m.TLSPolicy]
		switch {
		case m.PolicyError != "":
			state += "; delivery would skip it: " + m.PolicyError
		case policy != "" && m.Answered && !m.STARTTLS:
			state += "; " + policy + " requires TLS: mail to it would wait"
		case m.TLSPolicy == delivery.TLSByDANE:
			state += "; TLS required, the certificate must match its TLSA records (DANE)"
		case m.TLSPolicy == delivery.TLSByMTASTS:
			state += "; TLS required, the certificate must be valid for " + m.Host + " (MTA-STS)"
		}
		fmt.Fprintf(tw, "mx\t%s: %s\n", host, state)
	}
	r.printSPF(tw, rep.SPF)
	if d := rep.DKIM; d != nil {
		fmt.Fprintf(tw, "dkim\tpublish this TXT record:\n")
		if err := tw.flush(); err != nil {
			return err
		}
		fmt.Fprintf(r.env.Stdout, "%s  TXT %s\n", d.Name, txtStrings(d.Record))
	}
	return tw.flush()
}

// txtStrings quotes a TXT record as zone files want it: strings of at most
// 255 bytes, which resolvers join again.
func txtStrings(s string) string {
	var parts []string
	for len(s) > 255 {
		parts = append(parts, strconv.Quote(s[:255]))
		s = s[255:]
	}
	parts = append(parts, strconv.Quote(s))
	return strings.Join(parts, " ")
}

func (r *runner) profileSetPassword(_ context.Context, o profileOptions) error {
	p, err := r.namedProfile(o)
	if err != nil {
		return err
	}
	secret, err := r.readSecret(p.Name)
	if err != nil {
		return err
	}
	s := r.secrets()
	if err := s.SetPassword(p, secret); err != nil {
		return err
	}
	if r.env.StdinTTY || o.verbose {
		fmt.Fprintf(r.env.Stderr, "mailout: password for profile %q stored in the %s\n", p.Name, s.Source(p))
	}
	return nil
}

// readSecret reads a password without echo from the terminal when stdin
// is one, else one line from stdin.
func (r *runner) readSecret(name string) (string, error) {
	var secret string
	if r.env.StdinTTY {
		tty, err := r.env.OpenTTY()
		if err != nil {
			return "", withCode(exitConfig, fmt.Errorf("open the terminal to read the password: %w", err))
		}
		defer tty.Close()
		fmt.Fprintf(tty, "Password for profile %s: ", name)
		b, err := term.ReadPassword(int(tty.Fd()))
		fmt.Fprintln(tty)
		if err != nil {
			return "", withCode(exitConfig, fmt.Errorf("read password from terminal: %w", err))
		}
		secret = string(b)
	} else {
		b, err := io.ReadAll(io.LimitReader(r.env.Stdin, maxSecretBytes+1))
		if err != nil {
			return "", withCode(exitIOErr, fmt.Errorf("read password from standard input: %w", err))
		}
		if len(b) > maxSecretBytes {
			return "", usageErrorf("the password on standard input is longer than %d bytes", maxSecretBytes)
		}
		secret = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	}
	switch {
	case secret == "":
		return "", usageErrorf("empty password: nothing stored")
	case strings.ContainsAny(secret, "\r\n"):
		return "", usageErrorf("the password has a line break in it: give it as one line")
	}
	return secret, nil
}

func (r *runner) profileDeletePassword(_ context.Context, o profileOptions) error {
	p, err := r.namedProfile(o)
	if err != nil {
		return err
	}
	err = r.secrets().DeletePassword(p)
	if errors.Is(err, profiles.ErrNotFound) {
		fmt.Fprintf(r.env.Stderr, "mailout: warning: no password was stored for profile %q\n", p.Name)
		return nil
	}
	return err
}

// columns aligns tab-separated cells like tabwriter and drops the padding
// that tabwriter leaves at the end of a line whose last cell is empty.
type columns struct {
	out io.Writer
	buf bytes.Buffer
	tw  *tabwriter.Writer
}

func newColumns(out io.Writer) *columns {
	c := &columns{out: out}
	c.tw = tabwriter.NewWriter(&c.buf, 0, 0, 2, ' ', 0)
	return c
}

func (c *columns) Write(p []byte) (int, error) { return c.tw.Write(p) }

// flush writes what was aligned so far.
func (c *columns) flush() error {
	c.tw.Flush()
	lines := strings.SplitAfter(c.buf.String(), "\n")
	c.buf.Reset()
	for _, l := range lines {
		if t := strings.TrimRight(l, " \n"); t != strings.TrimSuffix(l, "\n") {
			l = t + "\n"
		}
		if _, err := io.WriteString(c.out, l); err != nil {
			return withCode(exitIOErr, fmt.Errorf("write output: %w", err))
		}
	}
	return nil
}
