// Package send puts a run's files at one destination: an SFTP directory, a
// webhook, or a NATS subject. A sender makes one attempt; the caller
// records it and decides when to try again, by the error's class.
package send

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

// File is one file of a run.
type File struct {
	Name        string
	Size        int64
	SHA256      string
	ContentType string
	Rows        int64
	// Role is "rows", "deleted", "added", "changed", "removed" or a dataset name.
	Role string
	// Format is "csv", "xlsx", "jsonl" or "zip".
	Format string
	// Open reads the file from the start; each call is a new reader.
	Open func(ctx context.Context) (io.ReadCloser, error)
	// Link makes a download link to the file, valid for ttl.
	Link func(ctx context.Context, ttl time.Duration) (string, error)
}

// Job is what one attempt delivers.
type Job struct {
	// TenantID is the tenant's id; TenantName its name.
	TenantID   string
	TenantName string
	Run        string
	Profile    string
	Version    int64
	Dataset    string
	// Time is the run's creation time: it fills {date:…} in paths, so every
	// attempt writes the same names.
	Time  time.Time
	Files []File
	// Attempt counts from 1.
	Attempt int
	// Round counts the rounds of attempts from 1: `ferry runs redeliver`
	// starts a new one. 0 counts as 1.
	Round int
}

// RoundKey names the job's run and round, for the ids a receiver drops
// repeats by: the run, and the round from the second on ("<run>/r2"), so
// that the attempts of a round share their ids and a redelivery does not.
func (j Job) RoundKey() string {
	if j.Round > 1 {
		return j.Run + "/r" + strconv.Itoa(j.Round)
	}
	return j.Run
}

// Sender delivers a job to one kind of destination. spec carries the
// destination's credentials. It returns where the files went (remote
// paths, a URL, a subject), one entry per file or per request.
type Sender interface {
	Send(ctx context.Context, dest string, spec *ferryv1.DestinationSpec, job Job) ([]string, error)
}

// Class says whether trying again can help.
type Class string

const (
	// Transient errors (refused, timed out, a full disk, a 5xx) are tried again.
	Transient Class = "transient"
	// Permanent errors (credentials refused, a changed host key, a path
	// outside the base, a 4xx) fail the delivery at once.
	Permanent Class = "permanent"
)

// Error is a failed attempt with its class.
type Error struct {
	Class Class
	Err   error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Fail marks err permanent.
func Fail(err error) error { return &Error{Class: Permanent, Err: err} }

// Retry marks err transient.
func Retry(err error) error { return &Error{Class: Transient, Err: err} }

// ClassOf is an error's class; unmarked errors are transient, except a
// canceled context, which the caller handles before asking.
func ClassOf(err error) Class {
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return Transient
}

// DefaultLinkTTL is how long the links of a notice work when the
// destination does not say.
const DefaultLinkTTL = 7 * 24 * time.Hour

// NoticeType is the type of the notice a webhook or NATS destination gets
// in notice mode.
const NoticeType = "ferry.export.ready"

// Notice is the JSON a destination in notice mode receives: the run and a
// download link for each of its files.
type Notice struct {
	Type    string       `json:"type"`
	Tenant  string       `json:"tenant"`
	Run     string       `json:"run"`
	Profile string       `json:"profile"`
	Version int64        `json:"version"`
	Dataset string       `json:"dataset"`
	Files   []NoticeFile `json:"files"`
}

// NoticeFile is one file of a Notice.
type NoticeFile struct {
	Name        string `json:"name"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	Rows        int64  `json:"rows"`
	ContentType string `json:"content_type"`
	Role        string `json:"role,omitempty"`
	Format      string `json:"format,omitempty"`
	URL         string `json:"url"`
}

// notice makes the notice of job with links valid for ttl. A missing or
// failing link keeps its error's class (transient when unmarked).
func notice(ctx context.Context, job Job, ttl time.Duration) (Notice, error) {
	n := Notice{
		Type: NoticeType, Tenant: job.TenantName, Run: job.Run, Profile: job.Profile,
		Version: job.Version, Dataset: job.Dataset, Files: make([]NoticeFile, 0, len(job.Files)),
	}
	for _, f := range job.Files {
		if f.Link == nil {
			return Notice{}, Fail(fmt.Errorf("file %s has no download link", f.Name))
		}
		url, err := f.Link(ctx, ttl)
		if err != nil {
			return Notice{}, keep(fmt.Errorf("link to file %s: %w", f.Name, err))
		}
		n.Files = append(n.Files, NoticeFile{
			Name: f.Name, Size: f.Size, SHA256: f.SHA256, Rows: f.Rows,
			ContentType: f.ContentType, Role: f.Role, Format: f.Format, URL: url,
		})
	}
	return n, nil
}

// keep marks err transient unless something in its chain has a class.
func keep(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return &Error{Class: e.Class, Err: err}
	}
	return Retry(err)
}

// open opens a file for reading, keeping its error's class.
func open(ctx context.Context, f File) (io.ReadCloser, error) {
	if f.Open == nil {
		return nil, Fail(fmt.Errorf("file %s cannot be read", f.Name))
	}
	r, err := f.Open(ctx)
	if err != nil {
		return nil, keep(fmt.Errorf("open file %s: %w", f.Name, err))
	}
	return r, nil
}
