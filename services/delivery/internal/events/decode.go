package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

// Event is a decoded change event.
type Event struct {
	// Op is "upsert" or "delete".
	Op string
	// Key and Fields hold values as the text the mapping parses; a JSON
	// null is an empty text.
	Key, Fields map[string]string
	ID          string
	// Order is the event's ordering key: its version when set, else its
	// timestamp in microseconds since 1970.
	Order int64
	// Tenant is the tenant the payload names, "" when it names none.
	Tenant string
}

// protobufTypes are the Content-Type values of a ChangeEvent in protobuf.
var protobufTypes = map[string]bool{"application/protobuf": true, "application/x-protobuf": true}

// Decode reads an event from a message payload: protobuf when contentType
// says so, else JSON when the payload is a JSON object, else protobuf. The
// error is the reason the event is refused, for its dead letter.
func Decode(data []byte, contentType string) (*Event, error) {
	ct := strings.ToLower(strings.TrimSpace(strings.SplitN(contentType, ";", 2)[0]))
	switch {
	case protobufTypes[ct]:
		return decodeProto(data)
	case ct == "application/json" || bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte("{")):
		return decodeJSON(data)
	}
	ev, err := decodeProto(data)
	if err != nil {
		return nil, fmt.Errorf("the payload is neither a JSON object nor a protobuf ChangeEvent: %w", err)
	}
	return ev, nil
}

func decodeProto(data []byte) (*Event, error) {
	var m ferryv1.ChangeEvent
	if err := proto.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("decode protobuf ChangeEvent: %w", err)
	}
	ev := &Event{Op: m.GetOp(), Key: m.GetKey(), Fields: m.GetFields(), ID: m.GetEventId(), Order: m.GetVersion(), Tenant: m.GetTenant()}
	if ev.Key == nil {
		ev.Key = map[string]string{}
	}
	if ev.Fields == nil {
		ev.Fields = map[string]string{}
	}
	if m.GetVersion() < 0 {
		return nil, fmt.Errorf("version %d is negative", m.GetVersion())
	}
	if ev.Order == 0 && m.GetTimestamp() != nil {
		if err := m.GetTimestamp().CheckValid(); err != nil {
			return nil, fmt.Errorf("timestamp: %w", err)
		}
		ev.Order = m.GetTimestamp().AsTime().UnixMicro()
	}
	return ev, ev.check()
}

// jsonEvent is the JSON form; values stay raw until their kind is known.
type jsonEvent struct {
	Op        string                     `json:"op"`
	Key       map[string]json.RawMessage `json:"key"`
	Fields    map[string]json.RawMessage `json:"fields"`
	EventID   json.RawMessage            `json:"event_id"`
	Version   json.RawMessage            `json:"version"`
	Timestamp string                     `json:"timestamp"`
	Tenant    string                     `json:"tenant"`
}

func decodeJSON(data []byte) (*Event, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	var j jsonEvent
	if err := d.Decode(&j); err != nil {
		return nil, fmt.Errorf("decode JSON event: %w", err)
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("decode JSON event: data after the event object")
	}
	ev := &Event{Op: j.Op, Tenant: j.Tenant, Key: map[string]string{}, Fields: map[string]string{}}
	var err error
	if ev.ID, err = jsonText(j.EventID); err != nil {
		return nil, fmt.Errorf("event_id: %w", err)
	}
	for name, raw := range j.Key {
		if ev.Key[name], err = jsonText(raw); err != nil {
			return nil, fmt.Errorf("key %q: %w", name, err)
		}
	}
	for name, raw := range j.Fields {
		if ev.Fields[name], err = jsonText(raw); err != nil {
			return nil, fmt.Errorf("field %q: %w", name, err)
		}
	}
	if v := bytes.TrimSpace(j.Version); len(v) > 0 && string(v) != "null" {
		var n json.Number
		if err := json.Unmarshal(v, &n); err != nil {
			return nil, fmt.Errorf("version %s is not a whole number", v)
		}
		if ev.Order, err = n.Int64(); err != nil || ev.Order < 0 {
			return nil, fmt.Errorf("version %s is not a whole number of 0 or more", v)
		}
	}
	if ev.Order == 0 && j.Timestamp != "" {
		ts, err := time.Parse(time.RFC3339Nano, j.Timestamp)
		if err != nil {
			return nil, fmt.Errorf("timestamp %q is not an RFC 3339 time (2024-05-01T12:00:00Z)", j.Timestamp)
		}
		ev.Order = ts.UnixMicro()
	}
	return ev, ev.check()
}

// jsonText is a JSON scalar as the text the mapping parses: a string as it
// is, a number as written (never through a float), a boolean as true or
// false, null as empty.
func jsonText(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	switch raw[0] {
	case '"':
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	case 't', 'f':
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return "", err
		}
		return fmt.Sprint(b), nil
	case '{', '[':
		return "", fmt.Errorf("value %s is an object or array; values are strings, numbers, booleans or null", raw)
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var n json.Number
	if err := d.Decode(&n); err != nil {
		return "", fmt.Errorf("value %s is not a JSON scalar", raw)
	}
	return n.String(), nil
}

// check validates what every event needs.
func (e *Event) check() error {
	switch {
	case e.Op != "upsert" && e.Op != "delete":
		return fmt.Errorf("op %q is not upsert or delete", e.Op)
	case e.ID == "":
		return errors.New("the event has no event_id")
	case len(e.Key) == 0:
		return errors.New("the event has no key")
	case e.Order <= 0:
		return errors.New("the event has neither a version nor a timestamp to order it by")
	}
	for name, v := range e.Key {
		if f, ok := e.Fields[name]; ok && f != v {
			return fmt.Errorf("%q is in key as %q and in fields as %q", name, v, f)
		}
	}
	return nil
}

// Record is the event as one record of a file: its names (key and fields,
// sorted) as the header, and their values.
func (e *Event) Record() (header, record []string) {
	seen := map[string]bool{}
	for n := range e.Key {
		header = append(header, n)
		seen[n] = true
	}
	for n := range e.Fields {
		if !seen[n] {
			header = append(header, n)
		}
	}
	slices.Sort(header)
	record = make([]string, len(header))
	for i, n := range header {
		if v, ok := e.Key[n]; ok {
			record[i] = v
		} else {
			record[i] = e.Fields[n]
		}
	}
	return header, record
}
