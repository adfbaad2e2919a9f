// Package template parses and renders mailout's message templates.
//
// A template file is header lines, a blank line, then the body (the shape
// mailmerge uses), with Go template syntax in both:
//
//	To: {{ .name }} <{{ .email }}>
//	Subject: Your order {{ .order }}
//	Attach: invoices/{{ .order }}.pdf
//
//	Hello {{ .name }}, ...
//
// The package reads no file but the template's own bytes, which the caller
// passes in, and touches no network and no clock: the time comes from
// [Options]. It only looks at the file system to resolve the symbolic links
// of attachment paths.
//
// # Headers
//
// The header block ends at the first blank line (empty or only blanks); a
// file without one is all headers and no body. A line that starts with a
// space or a tab continues the header above (RFC 5322 folding). A header
// name is printable ASCII but ':' (RFC 5322). Any header may be set but the
// MIME-structural ones, which mailout writes itself: MIME-Version and every
// Content-* header other than Content-Type are errors. The fields that RFC
// 5322 allows only once (From, To, Cc, Bcc, Reply-To, Subject, ...) may
// appear only once.
//
// A header value is a template. Its rendered value must not hold CR, LF,
// NUL or any other control character but tab, whatever the data: a data
// value cannot start a new header. Blanks around the value are dropped, and
// a header that renders empty is left out, so "Cc: {{ .cc }}" with an empty
// cc adds no Cc.
//
// Two headers are not message headers:
//
//   - Attach: a file to attach, repeatable. A relative path is taken from the
//     template's folder (there is no ~ expansion). Every attachment must lie
//     under the attach root ([Options.AttachRoot], by default the template's
//     folder), both as written and with its symbolic links resolved, so that
//     data cannot attach /etc/passwd or ~/.ssh/id_rsa. An Attach that
//     renders empty is skipped. Whether the file exists is the caller's
//     business.
//   - Content-Type: chooses the body kind, and is not a template:
//     text/plain (the default), text/html or text/markdown. Without it, a
//     file name ending in .html or .htm means text/html, and .md or
//     .markdown means text/markdown.
//
// # Body
//
// A text/plain body is rendered with text/template and becomes
// [Rendered.Text].
//
// A text/html body is rendered with html/template, which escapes data for
// its context: a data value "<script>" arrives as "&lt;script&gt;". It
// becomes [Rendered.HTML]. Its plain-text alternative, if any, is a block
// in the body
//
//	{{define "text"}}
//	Hello {{ .name }}, ...
//	{{end}}
//
// rendered with text/template rules (no escaping) into [Rendered.Text],
// without its leading newlines; the message is then multipart/alternative.
//
// A text/markdown body is rendered with text/template into [Rendered.Text]
// and that text, converted from Markdown (CommonMark with GitHub's tables,
// strikethrough, task lists and autolinks) to HTML, into [Rendered.HTML].
// Raw HTML in it, from data or not, is left out, and so are javascript:
// links. A {{define "text"}} block, if there is one, gives the text
// instead.
//
// The headers and the body are one template set: a {{define}} in the body
// can be used in the headers too. (An HTML body sees only the definitions
// in the body.)
//
// # Data
//
// Fields come from [Data.Values], built with [MergeData] from the --data
// files ([LoadDataFile]), the CSV row and the --var values, in that order
// of precedence. {{ .Env.NAME }} reads the environment ([Data.Env]); "Env"
// is therefore not a data field.
//
// Rendering is strict: a field used but not given is an error that names
// the field and the template line ("invoice.tpl:3: field \"order\" not
// given"), and so is {{ if .x }} when x is not given. An empty value counts
// as given. A field whose name is not an identifier ("first name",
// "e-mail") is read with index: {{ index . "first name" }}. index also reads
// a field that may be absent: it gives "" for a key that is not there.
//
// # Functions
//
// Besides text/template's built-in functions (printf, len, eq, ...):
//
//	default DEF VALUE   VALUE, or DEF when VALUE is nil, "" or an empty list:
//	                    {{ index . "title" | default "Sir or Madam" }}
//	                    (an absent field needs index; .x would be an error)
//	upper S, lower S    upper or lower case
//	title S             first letter of each word in upper case, the rest
//	                    unchanged: {{ .name | lower | title }}
//	trim S              without leading and trailing white space
//	join SEP LIST       the elements joined with SEP: {{ .tags | join ", " }}
//	replace OLD NEW S   every OLD in S replaced by NEW: {{ .x | replace "-" " " }}
//	now                 the time of [Options.Now]
//	date LAYOUT T       T formatted with a Go layout: {{ now | date "2006-01-02" }};
//	                    T is a time, or a string in RFC 3339 or 2006-01-02 form
//	index X KEY...      as the built-in, but "" for what is absent
//
// # Errors
//
// Syntax errors, fields not given, headers that may not be set, bad header
// values and attachments outside the root are [*Error]s, which name the
// file, line and, where known, column ("invoice.tpl:2:14: unexpected ...";
// columns count bytes from 1). [Parse] finds what it can before any data is
// seen: syntax, headers, a {{template}} of a template defined nowhere, and
// for HTML an action in a place html/template cannot escape.
// Errors in data files are [*DataError]s. The caller maps both to exit
// status 65.
package template
