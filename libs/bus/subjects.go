// Package bus is Ferry's use of NATS JetStream: the embedded server, the
// connection, every subject, stream and consumer name, and the worker loop
// that consumes with explicit acks, heartbeats and a clean drain.
package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Stream, bucket and durable consumer names.
const (
	StreamCommands = "FERRY_COMMANDS"
	StreamChunks   = "FERRY_CHUNKS"
	StreamRecords  = "FERRY_RECORDS"
	StreamProgress = "FERRY_PROGRESS"
	StreamRuns     = "FERRY_RUNS"
	StreamExport   = "FERRY_EXPORT"
	// StreamEvents keeps upstream change events, StreamDeadLetter the ones
	// that could not be applied, and StreamChanges the change feed of
	// datasets.
	StreamEvents     = "FERRY_EVENTS"
	StreamDeadLetter = "FERRY_DEADLETTER"
	StreamChanges    = "FERRY_CHANGES"
	FilesBucket      = "FERRY_FILES"

	ConsumerIngestImport   = "ingest-import"
	ConsumerTransform      = "transform"
	ConsumerDelivery       = "delivery"
	ConsumerDeliveryApply  = "delivery-apply"
	ConsumerExport         = "export"
	ConsumerExportFormat   = "transform-export"
	ConsumerExportAssembly = "delivery-export"
	ConsumerProfile        = "profile-progress"
	// ConsumerProfileTriggers starts the runs chained after a run's end.
	ConsumerProfileTriggers = "profile-triggers"
	// ConsumerDeliveryEvents applies upstream change events.
	ConsumerDeliveryEvents = "delivery-events"
)

// RunCreateSubject is the request-reply subject on which the profile service
// creates runs of a tenant for other services.
func RunCreateSubject(tenant string) string { return "ferry.svc.runs.create." + tenant }

// RunCreateSubjects matches RunCreateSubject of every tenant.
const RunCreateSubjects = "ferry.svc.runs.create.*"

// CrossReferenceFetchSubject is the request-reply subject on which the
// profile service serves a tenant's cross-reference tables to transform.
func CrossReferenceFetchSubject(tenant string) string { return "ferry.svc.xref.fetch." + tenant }

// CrossReferenceFetchSubjects matches CrossReferenceFetchSubject of every tenant.
const CrossReferenceFetchSubjects = "ferry.svc.xref.fetch.*"

// ApplyCommandSubject carries ApplyCommand messages of a tenant: apply a run
// whose chunks are all staged.
func ApplyCommandSubject(tenant string) string { return "ferry.cmd.apply." + tenant }

// ApplyCommandSubjects matches ApplyCommandSubject of every tenant.
const ApplyCommandSubjects = "ferry.cmd.apply.>"

// ExportCommandSubject carries ExportCommand messages of a tenant.
func ExportCommandSubject(tenant string) string { return "ferry.cmd.export." + tenant }

// ExportCommandSubjects matches ExportCommandSubject of every tenant.
const ExportCommandSubjects = "ferry.cmd.export.>"

// ImportCommandSubject carries ImportCommand messages of a tenant.
func ImportCommandSubject(tenant string) string { return "ferry.cmd.import." + tenant }

// ChunkSubject carries the Chunk messages of a run.
func ChunkSubject(tenant, run string) string { return "ferry.chunks." + tenant + "." + run }

// RecordSubject carries the RecordBatch messages of a run.
func RecordSubject(tenant, run string) string { return "ferry.records." + tenant + "." + run }

// ExportRowsSubject carries the ExportBatch messages of an export run.
func ExportRowsSubject(tenant, run string) string { return "ferry.export.rows." + tenant + "." + run }

// ExportRowsSubjects matches ExportRowsSubject of every run.
const ExportRowsSubjects = "ferry.export.rows.>"

// ExportPartsSubject carries the ExportAssembly messages of an export run.
func ExportPartsSubject(tenant, run string) string { return "ferry.export.parts." + tenant + "." + run }

// runScoped are the kinds of subject that end in a tenant and a run.
var runScoped = map[string]bool{"ferry.chunks": true, "ferry.records": true, "ferry.export.rows": true, "ferry.export.parts": true}

// RunOfSubject returns the tenant and run of a subject that carries one
// run's work (ChunkSubject, RecordSubject, ExportRowsSubject,
// ExportPartsSubject); ok is false for any other subject.
func RunOfSubject(subject string) (tenant, run string, ok bool) {
	parts := strings.Split(subject, ".")
	if len(parts) < 4 || !runScoped[strings.Join(parts[:len(parts)-2], ".")] {
		return "", "", false
	}
	return parts[len(parts)-2], parts[len(parts)-1], true
}

// ExportPartsSubjects matches ExportPartsSubject of every run.
const ExportPartsSubjects = "ferry.export.parts.>"

// ProgressSubject carries the Progress events of a run.
func ProgressSubject(tenant, run string) string { return "ferry.progress." + tenant + "." + run }

// EventSubject carries the change events upstream systems publish for a
// dataset of a tenant (by name).
func EventSubject(tenant, dataset string) string { return "ferry.events." + tenant + "." + dataset }

// EventSubjects matches every tenant's change events.
const EventSubjects = "ferry.events.>"

// DeadLetterSubject carries the change events of a dataset that could not
// be applied, with the reason.
func DeadLetterSubject(tenant, dataset string) string {
	return "ferry.deadletter." + tenant + "." + dataset
}

// ChangeSubject carries the change feed of a dataset.
func ChangeSubject(tenant, dataset string) string { return "ferry.changes." + tenant + "." + dataset }

// RunEventSubject carries lifecycle events of a profile's runs.
func RunEventSubject(tenant, profile, status string) string {
	return "ferry.runs." + tenant + "." + profile + "." + status
}

// MsgID is the Nats-Msg-Id of a run's message: the same message published
// twice within the duplicate window is stored once.
func MsgID(kind, run string, seq int64) string { return fmt.Sprintf("%s/%s/%d", kind, run, seq) }

// streams lists every stream Ferry uses.
var streams = []jetstream.StreamConfig{
	{Name: StreamCommands, Subjects: []string{"ferry.cmd.>"}, Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage},
	{Name: StreamChunks, Subjects: []string{"ferry.chunks.>"}, Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage},
	{Name: StreamRecords, Subjects: []string{"ferry.records.>"}, Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage},
	{Name: StreamExport, Subjects: []string{"ferry.export.>"}, Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage},
	{Name: StreamProgress, Subjects: []string{"ferry.progress.>"}, Retention: jetstream.LimitsPolicy, Storage: jetstream.FileStorage, MaxAge: 7 * 24 * time.Hour},
	{Name: StreamRuns, Subjects: []string{"ferry.runs.>"}, Retention: jetstream.LimitsPolicy, Storage: jetstream.FileStorage, MaxAge: 7 * 24 * time.Hour},
	{Name: StreamEvents, Subjects: []string{"ferry.events.>"}, Retention: jetstream.LimitsPolicy, Storage: jetstream.FileStorage, MaxAge: 7 * 24 * time.Hour},
	{Name: StreamDeadLetter, Subjects: []string{"ferry.deadletter.>"}, Retention: jetstream.LimitsPolicy, Storage: jetstream.FileStorage, MaxAge: 30 * 24 * time.Hour},
	{Name: StreamChanges, Subjects: []string{"ferry.changes.>"}, Retention: jetstream.LimitsPolicy, Storage: jetstream.FileStorage, MaxAge: 7 * 24 * time.Hour,
		Duplicates: 10 * time.Minute},
}

// StreamOptions are the deployment's choices for Ferry's streams.
type StreamOptions struct {
	// Replicas is the replica count of every stream and of the files object
	// store: 3 on a three-node JetStream cluster, so that losing a node
	// loses no message and no file. 0 keeps what each has (1 for a new one).
	Replicas int
}

// EnsureStreams creates every stream and the files object store, or updates
// them to Ferry's configuration, keeping their replica counts. Every service
// calls it at start; it is idempotent.
func EnsureStreams(ctx context.Context, js jetstream.JetStream) error {
	return DeclareStreams(ctx, js, StreamOptions{})
}

// DeclareStreams is EnsureStreams with the deployment's options: the
// composition root calls it once at start, before the services.
func DeclareStreams(ctx context.Context, js jetstream.JetStream, o StreamOptions) error {
	for _, cfg := range streams {
		cfg.Replicas = o.Replicas
		if cfg.Replicas == 0 {
			s, err := js.Stream(ctx, cfg.Name)
			switch {
			case err == nil:
				cfg.Replicas = s.CachedInfo().Config.Replicas
			case !errors.Is(err, jetstream.ErrStreamNotFound):
				return fmt.Errorf("look up stream %s: %w", cfg.Name, err)
			}
		}
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("declare stream %s with %d replicas: %w", cfg.Name, max(cfg.Replicas, 1), err)
		}
	}
	files := jetstream.ObjectStoreConfig{
		Bucket: FilesBucket, Storage: jetstream.FileStorage, Description: "original files of import runs", Replicas: o.Replicas,
	}
	if files.Replicas == 0 {
		obs, err := js.ObjectStore(ctx, FilesBucket)
		switch {
		case err == nil:
			st, err := obs.Status(ctx)
			if err != nil {
				return fmt.Errorf("look up object store %s: %w", FilesBucket, err)
			}
			files.Replicas = st.Replicas()
		case !errors.Is(err, jetstream.ErrBucketNotFound):
			return fmt.Errorf("look up object store %s: %w", FilesBucket, err)
		}
	}
	if _, err := js.CreateOrUpdateObjectStore(ctx, files); err != nil {
		return fmt.Errorf("declare object store %s with %d replicas: %w", FilesBucket, max(files.Replicas, 1), err)
	}
	return nil
}

// EnsureConsumer creates or updates a durable pull consumer.
func EnsureConsumer(ctx context.Context, js jetstream.JetStream, stream string, cfg jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	if cfg.AckPolicy == jetstream.AckNonePolicy {
		cfg.AckPolicy = jetstream.AckExplicitPolicy
	}
	if cfg.AckWait == 0 {
		cfg.AckWait = 30 * time.Second
	}
	if cfg.MaxDeliver == 0 {
		// Infrastructure outages must not use up deliveries; poison messages
		// are terminated by the worker, which knows they are permanent.
		cfg.MaxDeliver = -1
	}
	c, err := js.CreateOrUpdateConsumer(ctx, stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("declare consumer %s on %s: %w", cfg.Durable, stream, err)
	}
	return c, nil
}
