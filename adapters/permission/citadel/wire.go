package citadel

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/framework-m/framework-m/ports"
)

// wireRequest is the Cedar-compatible request (the "input" of the OPA format).
type wireRequest struct {
	Principal           string          `json:"principal"`
	Action              string          `json:"action"`
	Resource            string          `json:"resource"`
	TenantID            string          `json:"tenant_id"`
	Context             json.RawMessage `json:"context"`
	PrincipalAttributes map[string]any  `json:"principal_attributes"`
	ResourceAttributes  json.RawMessage `json:"resource_attributes"`
	Roles               []string        `json:"roles"`
	List                bool            `json:"list,omitempty"`
}

var emptyObject = json.RawMessage("{}")

// encode completes w with the resource and document and marshals it in the
// configured format.
func (a *Adapter) encode(w wireRequest, doctype, name string, doc any) ([]byte, error) {
	w.Context = emptyObject
	if doc != nil {
		raw, err := json.Marshal(doc)
		if err != nil {
			return nil, fmt.Errorf("encode document: %w", err)
		}
		switch {
		case len(raw) > 0 && raw[0] == '{':
			w.Context = raw
		case string(raw) == "null":
		default:
			return nil, fmt.Errorf("encode document: %T is not a JSON object", doc)
		}
		if name == "" {
			var named struct {
				Name string `json:"name"`
			}
			if json.Unmarshal(w.Context, &named) == nil {
				name = named.Name
			}
		}
	}
	if name == "" {
		name = "*"
	}
	w.Resource = doctype + ":" + name
	w.ResourceAttributes = w.Context
	if w.PrincipalAttributes == nil {
		w.PrincipalAttributes = map[string]any{}
	}
	if w.Roles == nil {
		w.Roles = []string{}
	}
	var (
		raw []byte
		err error
	)
	if a.opa {
		raw, err = json.Marshal(struct {
			Input *wireRequest `json:"input"`
		}{&w})
	} else {
		raw, err = json.Marshal(&w)
	}
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	return raw, nil
}

// wireDecision is a decision as the service writes it.
type wireDecision struct {
	Allowed        *bool           `json:"allowed"`
	Reason         string          `json:"reason"`
	PolicyID       string          `json:"policy_id"`
	DecisionSource string          `json:"decision_source"`
	Filters        json.RawMessage `json:"filters"`
}

// decision is a parsed answer.
type decision struct {
	allowed  bool
	source   ports.DecisionSource
	reason   string
	policyID string
	filters  []ports.Filter
}

// failure is why the service gave no decision.
type failure struct {
	kind   string // unreachable, timeout, status, invalid
	reason string // for the PolicyResult: short, no endpoint
	err    error  // for the log
}

// call POSTs body and parses the answer (with filters when list).
func (a *Adapter) call(ctx context.Context, body []byte, list bool) (decision, *failure) {
	cctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(cctx, http.MethodPost, a.endpoint, bytes.NewReader(body))
	if err != nil {
		return decision{}, &failure{kind: "unreachable", reason: "policy service request not built", err: err}
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	if a.token != "" {
		hreq.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.client.Do(hreq)
	if err != nil {
		return decision{}, a.transportFailure(cctx, err)
	}
	defer func() {
		// Drain a little so the connection can be reused, then close.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
	}()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return decision{}, &failure{
			kind:   "status",
			reason: fmt.Sprintf("policy service answered HTTP %d", resp.StatusCode),
			err:    fmt.Errorf("HTTP %s", resp.Status),
		}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return decision{}, a.transportFailure(cctx, err)
	}
	if len(data) > MaxResponseBytes {
		return decision{}, &failure{
			kind:   "invalid",
			reason: "policy service answer is too large",
			err:    fmt.Errorf("answer longer than %d bytes", MaxResponseBytes),
		}
	}
	d, err := a.parse(data, list)
	if err != nil {
		return decision{}, &failure{kind: "invalid", reason: "policy service answer is invalid: " + err.Error(), err: err}
	}
	if a.failing.Load() && a.failing.Swap(false) {
		a.log.LogAttrs(ctx, slog.LevelInfo, "citadel: policy service answers again", slog.String("endpoint", a.logEndpoint))
	}
	return d, nil
}

// transportFailure classifies an error of sending or reading.
func (a *Adapter) transportFailure(cctx context.Context, err error) *failure {
	if errors.Is(cctx.Err(), context.DeadlineExceeded) {
		return &failure{kind: "timeout", reason: fmt.Sprintf("policy service did not answer within %s", a.timeout), err: err}
	}
	return &failure{kind: "unreachable", reason: "policy service unreachable", err: err}
}

// parse reads an answer in the configured format.
func (a *Adapter) parse(data []byte, list bool) (decision, error) {
	d := decision{source: ports.SourceCustom}
	var w wireDecision
	if a.opa {
		var env struct {
			Result json.RawMessage `json:"result"`
		}
		if err := json.Unmarshal(data, &env); err != nil {
			return d, fmt.Errorf("not an OPA answer: %w", err)
		}
		raw := bytes.TrimSpace(env.Result)
		switch {
		case len(raw) == 0 || string(raw) == "null":
			d.reason = "policy decision is undefined for this request"
			return d, nil
		case string(raw) == "true" || string(raw) == "false":
			d.allowed = string(raw) == "true"
			return d, nil
		case raw[0] != '{':
			return d, errors.New(`"result" is neither a boolean nor an object`)
		}
		if err := json.Unmarshal(raw, &w); err != nil {
			return d, fmt.Errorf("result: %w", err)
		}
		if w.Allowed == nil {
			// OPA's way of saying no: the rule is undefined for this input.
			w.Allowed = new(bool)
			if w.Reason == "" {
				w.Reason = `policy decision has no "allowed": denied`
			}
		}
	} else {
		if err := json.Unmarshal(data, &w); err != nil {
			return d, fmt.Errorf("not a decision: %w", err)
		}
		if w.Allowed == nil {
			return d, errors.New(`no "allowed" in the decision`)
		}
	}
	d.allowed, d.reason, d.policyID = *w.Allowed, w.Reason, w.PolicyID
	if src, ok := sources[w.DecisionSource]; ok {
		d.source = src // an unknown source stays custom
	}
	if list && d.allowed {
		fs, err := parseFilters(w.Filters)
		if err != nil {
			return d, fmt.Errorf("filters: %w", err)
		}
		d.filters = fs
	}
	return d, nil
}

var sources = map[string]ports.DecisionSource{
	string(ports.SourceRBAC):   ports.SourceRBAC,
	string(ports.SourceABAC):   ports.SourceABAC,
	string(ports.SourceReBAC):  ports.SourceReBAC,
	string(ports.SourceCombo):  ports.SourceCombo,
	string(ports.SourceCustom): ports.SourceCustom,
}
