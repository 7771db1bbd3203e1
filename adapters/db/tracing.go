package db

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"gorm.io/gorm"
)

// tracerName is the instrumentation scope of the database spans.
const tracerName = "github.com/framework-m/framework-m/adapters/db"

// tracingName names the tracing plugin and prefixes its callbacks.
const tracingName = "framework-m:tracing"

// maxStatement bounds the db.statement attribute.
const maxStatement = 2048

// Attribute keys of the database spans.
const (
	attrSystem    = attribute.Key("db.system")
	attrTable     = attribute.Key("db.sql.table")
	attrStatement = attribute.Key("db.statement")
	attrOperation = attribute.Key("db.operation")
	attrErrorType = attribute.Key("error.type")
)

// Option configures Open.
type Option func(*openOptions)

type openOptions struct {
	tracer trace.TracerProvider
}

// WithTracerProvider makes Open install the tracing plugin (see Trace) with
// tp; a nil tp installs nothing.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *openOptions) { o.tracer = tp }
}

// Trace makes every statement run through gdb (on SQLite its reader pool's
// too; Open's WithTracerProvider calls it) a client span "db.<operation>"
// (db.create, db.query, db.update, db.delete, db.row, db.raw) made with tp,
// carrying db.system (sqlite or postgresql), db.sql.table, db.operation and
// db.statement — the SQL with its placeholders, cut at any quoted literal:
// never a bound value. A failed statement sets the span's status to error
// (not finding a record is no failure). Spans are made only under a
// recording span of the statement's context (a request's): background work
// makes none, and a request that is not sampled costs nothing more. A nil
// tp does nothing. Call it before gdb is used: GORM's callbacks must not
// change while statements run.
func Trace(gdb *gorm.DB, tp trace.TracerProvider) error {
	if tp == nil {
		return nil
	}
	handles := []*gorm.DB{gdb}
	if sp := splitOf(gdb); sp != nil && sp.read != nil {
		handles = append(handles, sp.read)
	}
	for _, h := range handles {
		if err := h.Use(newTracingPlugin(tp, h.Dialector.Name())); err != nil {
			return fmt.Errorf("install database tracing: %w", err)
		}
	}
	return nil
}

// tracingPlugin is the GORM plugin of Trace.
type tracingPlugin struct {
	tracer trace.Tracer
	system attribute.KeyValue
}

func newTracingPlugin(tp trace.TracerProvider, dialect string) *tracingPlugin {
	system := dialect
	if dialect == "postgres" {
		system = "postgresql" // the semantic conventions' name
	}
	return &tracingPlugin{tracer: tp.Tracer(tracerName), system: attrSystem.String(system)}
}

// Name names the plugin.
func (*tracingPlugin) Name() string { return tracingName }

// Initialize registers the callbacks around each kind of statement.
func (p *tracingPlugin) Initialize(gdb *gorm.DB) error {
	c := gdb.Callback()
	type registrar interface {
		Register(name string, fn func(*gorm.DB)) error
	}
	for _, op := range []struct {
		name          string
		before, after registrar
	}{
		{"create", c.Create().Before("gorm:create"), c.Create().After("gorm:create")},
		{"query", c.Query().Before("gorm:query"), c.Query().After("gorm:query")},
		{"update", c.Update().Before("gorm:update"), c.Update().After("gorm:update")},
		{"delete", c.Delete().Before("gorm:delete"), c.Delete().After("gorm:delete")},
		{"row", c.Row().Before("gorm:row"), c.Row().After("gorm:row")},
		{"raw", c.Raw().Before("gorm:raw"), c.Raw().After("gorm:raw")},
	} {
		if err := op.before.Register(tracingName+":before_"+op.name, p.before("db."+op.name, op.name)); err != nil {
			return fmt.Errorf("register %s: %w", op.name, err)
		}
		if err := op.after.Register(tracingName+":after_"+op.name, p.after); err != nil {
			return fmt.Errorf("register %s: %w", op.name, err)
		}
	}
	return nil
}

// spanKey is the context key of a statement's spanState.
type spanKey struct{}

// spanState is a statement's span and the context it replaced, which the
// after callback puts back: a *gorm.DB reused for a second statement must
// not start it under the first one's ended span.
type spanState struct {
	span   trace.Span
	parent context.Context
}

// before starts the span of a statement under its context's recording span.
func (p *tracingPlugin) before(name, operation string) func(*gorm.DB) {
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(p.system, attrOperation.String(operation))}
	return func(tx *gorm.DB) {
		ctx := tx.Statement.Context
		if ctx == nil || !trace.SpanFromContext(ctx).IsRecording() {
			return
		}
		spanCtx, span := p.tracer.Start(ctx, name, opts...)
		tx.Statement.Context = context.WithValue(spanCtx, spanKey{}, &spanState{span: span, parent: ctx})
	}
}

// after ends the statement's span with its table, SQL and outcome.
func (p *tracingPlugin) after(tx *gorm.DB) {
	ctx := tx.Statement.Context
	if ctx == nil {
		return
	}
	st, ok := ctx.Value(spanKey{}).(*spanState)
	if !ok {
		return
	}
	tx.Statement.Context = st.parent
	span := st.span
	defer span.End()
	if table := tx.Statement.Table; table != "" {
		span.SetAttributes(attrTable.String(table))
	}
	if sql := tx.Statement.SQL.String(); sql != "" {
		span.SetAttributes(attrStatement.String(statementOf(sql)))
	}
	if err := tx.Error; err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		span.SetAttributes(attrErrorType.String(errorType(err)))
		span.SetStatus(codes.Error, "statement failed")
	}
}

// knownErrors are the failures named by their message in spans.
var knownErrors = []error{
	gorm.ErrDuplicatedKey, gorm.ErrForeignKeyViolated, gorm.ErrCheckConstraintViolated,
	context.Canceled, context.DeadlineExceeded,
}

// errorType names a failure for a span: a known one by its message, any
// other by its type only, since a driver's message may quote the value it
// refused.
func errorType(err error) string {
	for _, k := range knownErrors {
		if errors.Is(err, k) {
			return k.Error()
		}
	}
	return fmt.Sprintf("%T", err)
}

// statementOf is sql fit for a span: cut at its first quoted literal (the
// repository binds values as parameters, but raw SQL may inline one) and to
// maxStatement bytes.
func statementOf(sql string) string {
	sql = redactSQL(sql)
	if len(sql) > maxStatement {
		sql = sql[:maxStatement] + "…"
	}
	return sql
}
