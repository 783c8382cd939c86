// Package filename fills the file name templates of export profiles:
// deterministic for a run, and always a plain file name.
package filename

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

var placeholderRE = regexp.MustCompile(`\{([a-z]+)(?::([^{}]*))?\}`)

// Fill fills a file name template: {run}, {profile}, {dataset},
// {version}, {date:LAYOUT} (Go layout, t in UTC) and {ext}. The result is a
// plain file name: substituted values cannot add a directory or a control
// character. ext is added when the template has no {ext} and no dot.
func Fill(tmpl, profile, dataset, run string, version int64, t time.Time, ext string) (string, error) {
	var bad error
	out := placeholderRE.ReplaceAllStringFunc(tmpl, func(m string) string {
		p := placeholderRE.FindStringSubmatch(m)
		switch p[1] {
		case "run":
			return run
		case "profile":
			return profile
		case "dataset":
			return dataset
		case "version":
			return fmt.Sprint(version)
		case "ext":
			return ext
		case "date":
			layout := p[2]
			if layout == "" {
				layout = "2006-01-02"
			}
			return t.UTC().Format(layout)
		}
		bad = fmt.Errorf("file name %q: unknown placeholder {%s} (want run, profile, dataset, version, ext or date:LAYOUT)", tmpl, p[1])
		return m
	})
	if bad != nil {
		return "", bad
	}
	if !strings.Contains(tmpl, "{ext}") && ext != "" && !strings.Contains(out, ".") {
		out += "." + ext
	}
	switch {
	case out == "" || out == "." || out == "..":
		return "", fmt.Errorf("file name %q is empty", tmpl)
	case strings.ContainsAny(out, "/\\") || strings.ContainsFunc(out, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "", fmt.Errorf("file name %q makes %q: it must not contain a slash, a backslash or a control character", tmpl, out)
	case len(out) > 255:
		return "", fmt.Errorf("file name %q makes a name longer than 255 bytes", tmpl)
	}
	return out, nil
}
