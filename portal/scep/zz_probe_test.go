package scep

import (
	"bytes"
	"context"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	smallscep "github.com/smallstep/scep"

	"keycard/ca"
	"keycard/portal/scep/sceptest"
	"keycard/vouchers"
)

type caOnly struct{ a *ca.Authority }

func (c caOnly) EnrolWithChallenge(ctx context.Context, _ vouchers.Actor, _ string, csr *x509.CertificateRequest) (vouchers.Device, *x509.Certificate, error) {
	cert, err := c.a.IssueDevice(ctx, ca.DeviceRequest{PublicKey: csr.PublicKey, CommonName: "device-1", NotAfter: time.Now().Add(time.Hour)})
	return vouchers.Device{}, cert, err
}

func TestProbeCryptoOnly(t *testing.T) {
	a, ra := sharedCA(t)
	h, _ := New(Options{RA: ra, CAChain: a.Chain(), Enroller: caOnly{a}})
	dev, _ := sceptest.NewDevice()
	msgs := make([][]byte, 200)
	for i := range msgs {
		csr, _ := dev.CSR("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
		req, _ := dev.Message(smallscep.PKCSReq, csr, []*x509.Certificate{ra.Leaf})
		msgs[i] = req.Raw
	}
	seq := time.Now()
	for i := 0; i < 20; i++ {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/scep?operation=PKIOperation", bytes.NewReader(msgs[i])))
	}
	t.Logf("sequential: %v per request", time.Since(seq)/20)
	took := make([]time.Duration, 200)
	var wg sync.WaitGroup
	start0 := time.Now()
	for i := range msgs {
		wg.Go(func() {
			start := time.Now()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/scep?operation=PKIOperation", bytes.NewReader(msgs[i])))
			took[i] = time.Since(start)
		})
	}
	wg.Wait()
	slices.Sort(took)
	t.Logf("total %v, p50 %v, p99 %v", time.Since(start0), took[100], took[197])
}

func TestProbeDBOnly(t *testing.T) {
	h := newHotel(t)
	ctx := context.Background()
	dev, _ := sceptest.NewDevice()
	var stays []int64
	for i := 0; i < 4; i++ {
		st, _, err := h.store.CreateStay(ctx, vouchers.Actor{Name: "s", Source: "x"}, vouchers.NewStay{Room: "r", GuestName: "g", CheckOut: time.Now().Add(48 * time.Hour), MaxDevices: 50, Policy: "standard"})
		if err != nil {
			t.Fatal(err)
		}
		stays = append(stays, st.ID)
	}
	chs := make([]string, 200)
	csrs := make([]*x509.CertificateRequest, 200)
	for i := range chs {
		chs[i], _, _ = h.store.MintEnrolChallenge(ctx, vouchers.Actor{Name: "g", Source: "x"}, stays[i/50], "ios", "", 0)
		csrs[i], _ = dev.CSR(chs[i])
	}
	took := make([]time.Duration, 200)
	var wg sync.WaitGroup
	start0 := time.Now()
	for i := range chs {
		wg.Go(func() {
			start := time.Now()
			if _, _, err := h.store.EnrolWithChallenge(ctx, vouchers.Actor{Name: "g", Source: "x"}, chs[i], csrs[i]); err != nil {
				t.Error(err)
			}
			took[i] = time.Since(start)
		})
	}
	wg.Wait()
	slices.Sort(took)
	t.Logf("DB only: total %v, p50 %v, p99 %v", time.Since(start0), took[100], took[197])
}
