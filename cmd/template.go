package cmd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"mailout/message"
	"mailout/profiles"
	"mailout/template"
)

// loadTemplate reads and parses a template file.
func loadTemplate(path string) (*template.Template, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, &message.InputError{Path: path, Err: err}
	}
	return template.Parse(path, src)
}

// templateData merges --data files and --var values (SPEC.md: --data <
// CSV row < --var); row may be nil.
func templateData(dataFiles, vars []string, row map[string]any) (map[string]any, error) {
	var layers []map[string]any
	for _, path := range dataFiles {
		src, err := os.ReadFile(path)
		if err != nil {
			return nil, &message.InputError{Path: path, Err: err}
		}
		m, err := template.LoadDataFile(path, src)
		if err != nil {
			return nil, err
		}
		layers = append(layers, m)
	}
	if row != nil {
		layers = append(layers, row)
	}
	vm := map[string]any{}
	for _, v := range vars {
		k, val, ok := strings.Cut(v, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, usageErrorf("--var %q: want KEY=VALUE", v)
		}
		vm[strings.TrimSpace(k)] = val
	}
	return template.MergeData(append(layers, vm)...), nil
}

// templateEnv is the environment templates see as .Env: never
// MAILOUT_PASSWORD nor a profile's password_env.
func (r *runner) templateEnv(cfg *profiles.Config) map[string]string {
	secret := map[string]bool{}
	for _, name := range secretVars(cfg) {
		secret[name] = true
	}
	env := map[string]string{}
	for _, kv := range r.env.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if !secret[k] {
			env[k] = v
		}
	}
	return env
}

// applyTemplate renders -T into the draft.
func (r *runner) applyTemplate(d *draft, o sendOptions) error {
	t, err := loadTemplate(o.template)
	if err != nil {
		return err
	}
	values, err := templateData(o.data, o.vars, nil)
	if err != nil {
		return err
	}
	rd, err := t.Render(template.Data{Values: values, Env: r.templateEnv(d.cfg)}, template.Options{Now: r.env.Now()})
	if err != nil {
		return err
	}
	return d.applyRendered(rd, o.subjectSet, o.bodySet || o.bodyFile != "")
}

// applyRendered merges a rendered template into the draft. Recipients on
// the command line replace the template's (so `-T x.tpl --to me@example.com`
// is a safe test send); other flags win over the template's headers.
func (d *draft) applyRendered(rd *template.Rendered, subjectSet, bodySet bool) error {
	cmdLineRcpts := len(d.to)+len(d.cc)+len(d.bcc) > 0
	flagHeaders := map[string]bool{}
	for _, h := range d.headers {
		flagHeaders[strings.ToLower(h.Name)] = true
	}
	for _, h := range rd.Headers {
		dst := d.addressField(h.Name)
		switch name := strings.ToLower(h.Name); name {
		case "to", "cc", "bcc":
		case "reply-to":
			if len(d.replyTo) == 0 {
				list, err := resolveRecipients(d.cfg, []string{h.Value}, fromData)
				if err != nil {
					return templateErr(err)
				}
				d.replyTo = list
			}
			continue
		case "from":
			if d.from == nil {
				a, err := message.ParseAddress(h.Value)
				if err != nil {
					return templateErr(err)
				}
				d.from = a
			}
			continue
		case "subject":
			if !subjectSet {
				d.subject = h.Value
			}
			continue
		case "date", "message-id":
			return &message.DataError{Msg: fmt.Sprintf("template header %s: mailout sets it", h.Name)}
		default:
			if !flagHeaders[name] {
				d.headers = append(d.headers, message.Field{Name: h.Name, Value: h.Value})
			}
			continue
		}
		if cmdLineRcpts {
			continue
		}
		list, err := resolveRecipients(d.cfg, []string{h.Value}, fromData)
		if err != nil {
			return templateErr(err)
		}
		*dst = append(*dst, list...)
	}
	if !bodySet {
		if rd.Text != "" {
			d.text = message.Bytes(rd.Text)
		}
		if rd.HTML != "" {
			d.html = message.Bytes(rd.HTML)
		}
	}
	for _, a := range rd.Attach {
		if _, err := os.Stat(a); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return &message.InputError{Path: a, Err: err}
			}
		}
		d.parts = append(d.parts, message.Part{Path: a})
	}
	return nil
}

// templateErr marks an address problem found in template data as data
// (65), not usage.
func templateErr(err error) error {
	var ce *codeError
	if errors.As(err, &ce) && ce.code == exitUsage {
		return &message.DataError{Msg: ce.err.Error()}
	}
	return err
}
