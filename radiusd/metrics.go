package radiusd

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"layeh.com/radius"
	"layeh.com/radius/rfc2866"
)

// metrics are the server's Prometheus collectors.
type metrics struct {
	auth         *prometheus.CounterVec // result, reason
	authDuration prometheus.Histogram   // first packet to Accept/Reject
	authRounds   prometheus.Histogram
	dropped      *prometheus.CounterVec // cause
	cacheHits    prometheus.Counter
	noMsgAuth    prometheus.Counter     // requests accepted without Message-Authenticator (NAS opt-out)
	requests     *prometheus.CounterVec // code

	acct          *prometheus.CounterVec // status
	acctCommit    prometheus.Histogram   // time an Accounting-Request waits for its commit
	acctCacheHits prometheus.Counter

	// The accounting port's counters, resolved once: a label lookup
	// (hashing the values, a locked map) on every packet is a measurable
	// part of an accounting record's CPU.
	acctRequests prometheus.Counter                  // requests{code="Accounting-Request"}
	acctByStatus [numAcctStatuses]prometheus.Counter // acct, by acctStatus
}

// acctStatus is a status label of keycard_radius_accounting_total.
type acctStatus int

const (
	acctStart acctStatus = iota
	acctInterim
	acctStop
	acctOn
	acctOff
	acctOther
	numAcctStatuses
)

var acctStatusLabels = [numAcctStatuses]string{
	acctStart: "start", acctInterim: "interim", acctStop: "stop",
	acctOn: "accounting_on", acctOff: "accounting_off", acctOther: "other",
}

// acctStored is the keycard_radius_accounting_total counter of st.
func (m *metrics) acctStored(st rfc2866.AcctStatusType) prometheus.Counter {
	label := acctOther
	switch st {
	case rfc2866.AcctStatusType_Value_Start:
		label = acctStart
	case rfc2866.AcctStatusType_Value_InterimUpdate:
		label = acctInterim
	case rfc2866.AcctStatusType_Value_Stop:
		label = acctStop
	case rfc2866.AcctStatusType_Value_AccountingOn:
		label = acctOn
	case rfc2866.AcctStatusType_Value_AccountingOff:
		label = acctOff
	}
	return m.acctByStatus[label]
}

func newMetrics(reg prometheus.Registerer, eapSessions func() float64, optOuts func() float64) (*metrics, error) {
	m := &metrics{
		auth: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keycard_radius_auth_total",
			Help: "Authentications finished, by result (accept, reject) and reason.",
		}, []string{"result", "reason"}),
		authDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "keycard_radius_auth_duration_seconds",
			Help:    "Time from the first EAP packet of a conversation to its Access-Accept or Access-Reject.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		authRounds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "keycard_radius_auth_rounds",
			Help:    "EAP round trips per finished authentication.",
			Buckets: []float64{2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50},
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keycard_radius_dropped_total",
			Help: "Packets dropped without an answer, by cause.",
		}, []string{"cause"}),
		cacheHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "keycard_radius_reply_cache_hits_total",
			Help: "Retransmitted requests answered from the RFC 5080 reply cache.",
		}),
		noMsgAuth: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "keycard_radius_requests_without_message_authenticator_total",
			Help: "Requests served without Message-Authenticator from NAS clients that opted out of requiring it.",
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keycard_radius_requests_total",
			Help: "Authentic requests served, by RADIUS code.",
		}, []string{"code"}),
	}
	m.acct = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keycard_radius_accounting_total",
		Help: "Accounting-Requests stored and acknowledged, by Acct-Status-Type.",
	}, []string{"status"})
	m.acctCommit = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "keycard_radius_accounting_commit_seconds",
		Help:    "Time an accounting record waits until it is durably committed (group commit) and can be acknowledged.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
	})
	m.acctCacheHits = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "keycard_radius_accounting_reply_cache_hits_total",
		Help: "Retransmitted Accounting-Requests answered from the reply cache (never recorded twice).",
	})
	for st, label := range acctStatusLabels {
		m.acctByStatus[st] = m.acct.WithLabelValues(label)
	}
	m.acctRequests = m.requests.WithLabelValues(radius.CodeAccountingRequest.String())
	collectors := []prometheus.Collector{m.auth, m.authDuration, m.authRounds, m.dropped, m.cacheHits, m.noMsgAuth, m.requests,
		m.acct, m.acctCommit, m.acctCacheHits,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "keycard_radius_eap_sessions",
			Help: "EAP conversations in flight.",
		}, eapSessions),
	}
	if optOuts != nil {
		collectors = append(collectors, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "keycard_radius_nas_message_authenticator_optional",
			Help: "NAS clients that do not require Message-Authenticator (should be 0).",
		}, optOuts))
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("radiusd: metrics already registered (one Server per registry): %w", err)
			}
			return nil, fmt.Errorf("radiusd: register metrics: %w", err)
		}
	}
	// Pre-create the drop causes so dashboards show zeros.
	for _, c := range allDropCauses {
		m.dropped.WithLabelValues(string(c))
	}
	return m, nil
}
