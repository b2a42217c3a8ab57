package radiusd_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"keycard/internal/secretbox"
	"keycard/internal/store"
	"keycard/radiusd"
	"keycard/radiusd/radiustest"
	"keycard/vouchers"
)

func newNASStore(t *testing.T) (*radiusd.NASStore, *radiustest.Auditor) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := radiusd.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	if err := radiusd.Check(ctx, db); err != nil {
		t.Fatal(err)
	}
	box := testBox(t)
	audit := &radiustest.Auditor{}
	s := radiusd.NewNASStore(db, box, audit)
	s.SetLogger(slog.New(slog.DiscardHandler))
	return s, audit
}

var admin = vouchers.Actor{Name: "admin", Source: "cli"}

func TestNASStoreAddLookupRemove(t *testing.T) {
	ctx := context.Background()
	s, audit := newNASStore(t)

	lobby, err := s.Add(ctx, admin, radiusd.NAS{Name: "ap-lobby", Network: netip.MustParsePrefix("10.0.0.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	if len(lobby.Secret) != radiusd.GeneratedSecretLength || lobby.DASPort != radiusd.DefaultDASPort {
		t.Errorf("generated secret %d chars, DAS port %d", len(lobby.Secret), lobby.DASPort)
	}
	given := []byte("0123456789abcdef-given")
	if _, err := s.Add(ctx, admin, radiusd.NAS{Name: "ap-room-101", Network: netip.MustParsePrefix("10.0.0.101/32"), Secret: given, DASPort: 3800}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(ctx, admin, radiusd.NAS{Name: "ap-v6", Network: netip.MustParsePrefix("2001:db8::/64")}); err != nil {
		t.Fatal(err)
	}

	lookups := []struct {
		ip   string
		want string
	}{
		{"10.0.0.101", "ap-room-101"}, // most specific wins
		{"10.0.0.7", "ap-lobby"},
		{"::ffff:10.0.0.7", "ap-lobby"}, // from a dual-stack socket
		{"2001:db8::1", "ap-v6"},
		{"10.0.1.1", ""},
		{"2001:db9::1", ""},
	}
	for _, l := range lookups {
		n, ok := s.Lookup(netip.MustParseAddr(l.ip))
		if ok != (l.want != "") || n.Name != l.want {
			t.Errorf("Lookup(%s) = %q %v, want %q", l.ip, n.Name, ok, l.want)
		}
	}
	if n, _ := s.Lookup(netip.MustParseAddr("10.0.0.101")); !bytes.Equal(n.Secret, given) || n.DASPort != 3800 {
		t.Errorf("room 101: secret %q DAS %d", n.Secret, n.DASPort)
	}
	if n, _ := s.Lookup(netip.MustParseAddr("10.0.0.9")); !bytes.Equal(n.Secret, lobby.Secret) {
		t.Errorf("lobby secret not opened from the database")
	}

	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || list[0].Name != "ap-lobby" || list[0].Secret != nil {
		t.Errorf("List = %+v", list)
	}

	if err := s.Remove(ctx, admin, "ap-room-101"); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Lookup(netip.MustParseAddr("10.0.0.101")); n.Name != "ap-lobby" {
		t.Errorf("after removal 10.0.0.101 is %q", n.Name)
	}
	if err := s.Remove(ctx, admin, "ap-room-101"); !errors.Is(err, radiusd.ErrUnknownNAS) {
		t.Errorf("second Remove = %v", err)
	}

	entries := audit.Entries()
	if len(entries) != 4 || entries[0].Action != "nas.add" || entries[0].Subject != "nas:ap-lobby" || entries[3].Action != "nas.remove" {
		t.Fatalf("audit = %+v", entries)
	}
	for _, e := range entries {
		if strings.Contains(e.Detail, string(given)) || strings.Contains(e.Detail, string(lobby.Secret)) {
			t.Errorf("audit entry carries a secret: %+v", e)
		}
	}
}

func TestNASStoreAddRefuses(t *testing.T) {
	ctx := context.Background()
	s, audit := newNASStore(t)
	if _, err := s.Add(ctx, admin, radiusd.NAS{Name: "ap-lobby", Network: netip.MustParsePrefix("10.0.0.0/24")}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		nas     radiusd.NAS
		wantDup bool
		wantMsg string
	}{
		{"same name", radiusd.NAS{Name: "ap-lobby", Network: netip.MustParsePrefix("10.9.0.0/24")}, true, ""},
		{"same network", radiusd.NAS{Name: "ap-bar", Network: netip.MustParsePrefix("10.0.0.0/24")}, true, ""},
		{"bad name", radiusd.NAS{Name: "ap lobby!", Network: netip.MustParsePrefix("10.9.0.0/24")}, false, "NAS name"},
		{"no network", radiusd.NAS{Name: "ap-x"}, false, "network"},
		{"host bits", radiusd.NAS{Name: "ap-x", Network: netip.MustParsePrefix("10.9.0.5/24")}, false, "did you mean 10.9.0.0/24"},
		{"DAS port", radiusd.NAS{Name: "ap-x", Network: netip.MustParsePrefix("10.9.0.0/24"), DASPort: 70000}, false, "DAS port"},
		{"short secret", radiusd.NAS{Name: "ap-x", Network: netip.MustParsePrefix("10.9.0.0/24"), Secret: []byte("testing123")}, false, "shared secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Add(ctx, admin, tt.nas)
			if err == nil {
				t.Fatal("Add succeeded")
			}
			if errors.Is(err, radiusd.ErrDuplicateNAS) != tt.wantDup || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Add = %v", err)
			}
		})
	}
	if n := len(audit.Entries()); n != 1 {
		t.Errorf("%d audit entries, want 1 (refusals are not audited)", n)
	}

	// An audit failure leaves no NAS behind.
	audit.Err = errors.New("disk full")
	if _, err := s.Add(ctx, admin, radiusd.NAS{Name: "ap-spa", Network: netip.MustParsePrefix("10.8.0.0/24")}); err == nil {
		t.Fatal("Add succeeded without audit")
	}
	if _, ok := s.Lookup(netip.MustParseAddr("10.8.0.1")); ok {
		t.Error("unaudited NAS is live")
	}
	if list, _ := s.List(ctx); len(list) != 1 {
		t.Errorf("unaudited NAS stored: %+v", list)
	}
}

func TestParseNetwork(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{"10.0.0.5", "10.0.0.5/32", ""},
		{" 10.0.0.0/24 ", "10.0.0.0/24", ""},
		{"2001:db8::5", "2001:db8::5/128", ""},
		{"::ffff:10.0.0.5", "10.0.0.5/32", ""},
		{"10.0.0.0/33", "", "not an address or a CIDR"},
		{"10.0.0.300", "", "not an address or a CIDR"},
		{"lobby", "", "not an address or a CIDR"},
		{"10.0.0.1/24", "", "did you mean 10.0.0.0/24"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := radiusd.ParseNetwork(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("ParseNetwork(%q) = %v, %v; want error with %q", tt.in, p, err, tt.err)
				}
				return
			}
			if err != nil || p.String() != tt.want {
				t.Errorf("ParseNetwork(%q) = %v, %v; want %s", tt.in, p, err, tt.want)
			}
		})
	}
}

func testBox(t *testing.T) *secretbox.Box {
	t.Helper()
	box, err := secretbox.New([]byte("front desk passphrase"), bytes.Repeat([]byte{7}, 16))
	if err != nil {
		t.Fatal(err)
	}
	return box
}

// The DAS fields go in with Add and come back from List, Lookup and a
// reload; the defaults are the RFC 5176 profile, no CoA, and the
// accounting source as the DAS address.
func TestNASStoreDASFields(t *testing.T) {
	ctx := context.Background()
	s, audit := newNASStore(t)
	ctrl, err := s.Add(ctx, admin, radiusd.NAS{Name: "wlc", Network: netip.MustParsePrefix("10.1.0.0/16"),
		DASAddress: netip.MustParseAddr("::ffff:10.1.0.2"), Profile: "cisco-wlc", CoA: true, CoAPort: 1799})
	if err != nil {
		t.Fatal(err)
	}
	if ctrl.DASAddress != netip.MustParseAddr("10.1.0.2") {
		t.Errorf("DAS address %v, want it unmapped", ctrl.DASAddress)
	}
	plain, err := s.Add(ctx, admin, radiusd.NAS{Name: "ap", Network: netip.MustParsePrefix("10.2.0.7/32")})
	if err != nil {
		t.Fatal(err)
	}
	if plain.Profile != radiusd.DefaultProfile || plain.CoA || plain.CoAPort != 0 || plain.DASAddress.IsValid() {
		t.Errorf("defaults: %+v", plain)
	}
	if err := s.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Lookup(netip.MustParseAddr("10.1.2.3"))
	if got.DASAddress != netip.MustParseAddr("10.1.0.2") || got.Profile != "cisco-wlc" || !got.CoA || got.CoAPort != 1799 {
		t.Errorf("Lookup = %+v", got)
	}
	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "ap" || list[0].Profile != "rfc5176" || list[1].Profile != "cisco-wlc" || list[1].CoAPort != 1799 {
		t.Errorf("List = %+v", list)
	}
	detail := audit.Entries()[0].Detail
	for _, want := range []string{"das-address 10.1.0.2", "profile cisco-wlc", "coa on port 1799"} {
		if !strings.Contains(detail, want) {
			t.Errorf("audit detail %q lacks %q", detail, want)
		}
	}
	if d := audit.Entries()[1].Detail; !strings.Contains(d, "profile rfc5176") || !strings.Contains(d, "coa off") {
		t.Errorf("audit detail %q", d)
	}
}

func TestNASStoreDASFieldsRefused(t *testing.T) {
	ctx := context.Background()
	s, _ := newNASStore(t)
	network := netip.MustParsePrefix("10.9.0.0/24")
	tests := []struct {
		name string
		nas  radiusd.NAS
		want []string
	}{
		{"unknown profile", radiusd.NAS{Name: "x", Network: network, Profile: "cisco"}, append([]string{"cisco"}, radiusd.Profiles()...)},
		{"CoA port without CoA", radiusd.NAS{Name: "x", Network: network, CoAPort: 1700}, []string{"CoA port 1700"}},
		{"CoA port out of range", radiusd.NAS{Name: "x", Network: network, CoA: true, CoAPort: 70000}, []string{"CoA port 70000"}},
		{"unspecified DAS address", radiusd.NAS{Name: "x", Network: network, DASAddress: netip.MustParseAddr("0.0.0.0")}, []string{"DAS address"}},
		{"multicast DAS address", radiusd.NAS{Name: "x", Network: network, DASAddress: netip.MustParseAddr("ff02::1")}, []string{"DAS address"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Add(ctx, admin, tt.nas)
			if err == nil {
				t.Fatal("Add succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// A NAS added before migration 0002 keeps working after it: Disconnect to
// its accounting source on its DAS port, the default profile, no CoA.
func TestNASStoreMigratesExistingRows(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	first, err := os.ReadFile("migrations/0001_nas.sql")
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(ctx, db, "radiusd", fstest.MapFS{"0001_nas.sql": {Data: first}}); err != nil {
		t.Fatal(err)
	}
	box := testBox(t)
	sealed, err := box.Seal("nas:ap-old", []byte("an-old-shared-secret"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO nas (name, network, secret_sealed, das_port, require_message_authenticator, created_at)
		VALUES ('ap-old', '10.5.0.0/24', ?, 3800, 1, '2030-01-01T00:00:00Z')`, sealed); err != nil {
		t.Fatal(err)
	}
	if err := radiusd.Check(ctx, db); !errors.Is(err, store.ErrBehind) {
		t.Fatalf("Check before migrating = %v", err)
	}
	if err := radiusd.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	s := radiusd.NewNASStore(db, box, &radiustest.Auditor{})
	s.SetLogger(slog.New(slog.DiscardHandler))
	if err := s.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	n, ok := s.Lookup(netip.MustParseAddr("10.5.0.9"))
	if !ok || n.Name != "ap-old" || n.DASPort != 3800 || n.Profile != radiusd.DefaultProfile || n.CoA || n.CoAPort != 0 || n.DASAddress.IsValid() ||
		string(n.Secret) != "an-old-shared-secret" {
		t.Errorf("after migration: %+v", n)
	}
}
