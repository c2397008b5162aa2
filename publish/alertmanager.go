package publish

import (
	"maps"

	amtemplate "github.com/prometheus/alertmanager/template"

	"github.com/am-fanout/am-fanout/core"
)

// AlertmanagerPayload is the body Alertmanager's notify/webhook sends (its
// Message type), rebuilt here so as not to import notify/.
type AlertmanagerPayload struct {
	*amtemplate.Data

	Version         string `json:"version"`
	GroupKey        string `json:"groupKey"`
	TruncatedAlerts uint64 `json:"truncatedAlerts"`
}

// AlertmanagerMessage is the v4 payload Alertmanager would send for a
// group holding only this alert: status, common labels and common
// annotations are computed over the alerts of the message, as Alertmanager
// does, so they are this alert's own. Group labels, group key, receiver
// and external URL come from the notification the alert arrived in.
// Nothing was cut from this message, so truncatedAlerts is 0.
func AlertmanagerMessage(a *core.EnrichedAlert) *AlertmanagerPayload {
	return &AlertmanagerPayload{
		Data: &amtemplate.Data{
			Receiver: a.Group.Receiver,
			Status:   string(a.Alert.Status),
			Alerts: amtemplate.Alerts{{
				Status:       string(a.Alert.Status),
				Labels:       KV(a.Alert.Labels),
				Annotations:  KV(a.Alert.Annotations),
				StartsAt:     a.Alert.StartsAt,
				EndsAt:       a.Alert.EndsAt,
				GeneratorURL: a.Alert.GeneratorURL,
				Fingerprint:  a.Alert.Fingerprint,
			}},
			GroupLabels:       KV(a.Group.GroupLabels),
			CommonLabels:      KV(a.Alert.Labels),
			CommonAnnotations: KV(a.Alert.Annotations),
			ExternalURL:       a.Group.ExternalURL,
		},
		Version:  "4",
		GroupKey: a.Group.GroupKey,
	}
}

// KV copies a map into Alertmanager's KV, never nil, so an empty map is
// sent as {} like Alertmanager does, not null.
func KV(m map[string]string) amtemplate.KV {
	out := make(amtemplate.KV, len(m))
	maps.Copy(out, m)
	return out
}

// AppendAlertmanagerMessage appends AlertmanagerMessage(a) as json.Marshal
// encodes it (but for the <, > and & that encoding/json also escapes),
// without building the message: the webhook's format alertmanager body,
// encoded once per alert for all the webhooks it fans out to. The common
// labels and annotations are the alert's own, copied as encoded once.
func AppendAlertmanagerMessage(b []byte, a *core.EnrichedAlert) []byte {
	status := string(a.Alert.Status)
	b = append(b, `{"receiver":`...)
	b = core.AppendJSONString(b, a.Group.Receiver)
	b = append(b, `,"status":`...)
	b = core.AppendJSONString(b, status)
	b = append(b, `,"alerts":[{"status":`...)
	b = core.AppendJSONString(b, status)
	b = append(b, `,"labels":`...)
	labels := len(b)
	b = appendKV(b, a.Alert.Labels)
	labelsEnd := len(b)
	b = append(b, `,"annotations":`...)
	annotations := len(b)
	b = appendKV(b, a.Alert.Annotations)
	annotationsEnd := len(b)
	b = append(b, `,"startsAt":`...)
	b = core.AppendJSONTime(b, a.Alert.StartsAt)
	b = append(b, `,"endsAt":`...)
	b = core.AppendJSONTime(b, a.Alert.EndsAt)
	b = append(b, `,"generatorURL":`...)
	b = core.AppendJSONString(b, a.Alert.GeneratorURL)
	b = append(b, `,"fingerprint":`...)
	b = core.AppendJSONString(b, a.Alert.Fingerprint)
	b = append(b, `}],"groupLabels":`...)
	b = appendKV(b, a.Group.GroupLabels)
	b = append(b, `,"commonLabels":`...)
	b = append(b, b[labels:labelsEnd]...)
	b = append(b, `,"commonAnnotations":`...)
	b = append(b, b[annotations:annotationsEnd]...)
	b = append(b, `,"externalURL":`...)
	b = core.AppendJSONString(b, a.Group.ExternalURL)
	b = append(b, `,"version":"4","groupKey":`...)
	b = core.AppendJSONString(b, a.Group.GroupKey)
	return append(b, `,"truncatedAlerts":0}`...)
}

// appendKV appends m as KV(m) encodes: {} for a nil map.
func appendKV(b []byte, m map[string]string) []byte {
	if m == nil {
		return append(b, "{}"...)
	}
	return core.AppendJSONStringMap(b, m)
}
