package vouchers

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// auditFixture has a log of ten rows.
func auditFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t)
	ctx := context.Background()
	for i := range 10 {
		f.clock.Advance(time.Minute)
		if err := f.s.Audit(ctx, Actor{Name: "admin", Source: "cli"}, "nas.add", "nas:ap-"+string(rune('a'+i)), "10.0.0.0/24 das 3799"); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.s.VerifyAudit(ctx); err != nil {
		t.Fatalf("untouched log: %v", err)
	}
	return f
}

func TestVerifyAuditFindsTampering(t *testing.T) {
	tests := []struct {
		name    string
		tamper  string
		wantID  int64
		problem string
	}{
		{"edited detail", `UPDATE audit_log SET detail = '0.0.0.0/0' WHERE id = 7`, 7, "row 7 was changed"},
		{"edited time", `UPDATE audit_log SET at = at + 1 WHERE id = 3`, 3, "row 3 was changed"},
		{"edited first row", `UPDATE audit_log SET actor = 'nobody' WHERE id = 1`, 1, "row 1 was changed"},
		{"deleted row", `DELETE FROM audit_log WHERE id = 8`, 8, "row 8 is missing or was reordered"},
		{"deleted first row", `DELETE FROM audit_log WHERE id = 1`, 1, "row 1 is missing or was reordered"},
		{"deleted last row", `DELETE FROM audit_log WHERE id = 10`, 10, "row 10 is missing"},
		{"deleted tail", `DELETE FROM audit_log WHERE id > 6`, 7, "rows 7 to 10 are missing"},
		{"swapped rows", `UPDATE audit_log SET id = 100 WHERE id = 4; UPDATE audit_log SET id = 4 WHERE id = 5; UPDATE audit_log SET id = 5 WHERE id = 100`, 4, "row 4 was changed"},
		{"edited head", `UPDATE audit_head SET hash = 'ff'`, 10, "row 10 was changed"},
		{"deleted head", `DELETE FROM audit_head`, 0, "audit head is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := auditFixture(t)
			if _, err := f.db.Exec(tt.tamper); err != nil {
				t.Fatal(err)
			}
			err := f.s.VerifyAudit(context.Background())
			var ae *AuditError
			if !errors.As(err, &ae) {
				t.Fatalf("VerifyAudit = %v, want *AuditError", err)
			}
			if ae.ID != tt.wantID || !strings.Contains(ae.Problem, tt.problem) {
				t.Errorf("AuditError = {%d %q}, want {%d %q}", ae.ID, ae.Problem, tt.wantID, tt.problem)
			}
		})
	}
}

// A row appended with a correct hash, but not through Keycard, is found by
// the head.
func TestVerifyAuditFindsRowAddedBehindTheHead(t *testing.T) {
	f := auditFixture(t)
	ctx := context.Background()
	log, _ := f.s.AuditLog(ctx, 1)
	e := AuditEntry{ID: 11, At: log[0].At, Actor: "admin", Action: "staff.add", Subject: "staff:mallory", PrevHash: log[0].Hash}
	e.Hash = hashAudit(e)
	if _, err := f.db.Exec(`INSERT INTO audit_log (id, at, actor, source, action, subject, detail, prev_hash, hash)
		VALUES (?, ?, ?, '', ?, ?, '', ?, ?)`, e.ID, dbTime(e.At), e.Actor, e.Action, e.Subject, e.PrevHash, e.Hash); err != nil {
		t.Fatal(err)
	}
	var ae *AuditError
	if err := f.s.VerifyAudit(ctx); !errors.As(err, &ae) || ae.ID != 11 || !strings.Contains(ae.Problem, "added outside Keycard") {
		t.Errorf("VerifyAudit = %v", err)
	}
}

// A row edited and re-hashed breaks the link to the next row.
func TestVerifyAuditFindsRehashedRow(t *testing.T) {
	f := auditFixture(t)
	ctx := context.Background()
	log, err := f.s.AuditLog(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	e := log[len(log)-5] // row 5
	e.Detail = "0.0.0.0/0"
	if _, err := f.db.Exec(`UPDATE audit_log SET detail = ?, hash = ? WHERE id = ?`, e.Detail, hashAudit(e), e.ID); err != nil {
		t.Fatal(err)
	}
	var ae *AuditError
	if err := f.s.VerifyAudit(ctx); !errors.As(err, &ae) || ae.ID != 6 || !strings.Contains(ae.Problem, "row 5 was changed") {
		t.Errorf("VerifyAudit = %v", err)
	}
}

func TestAuditChain(t *testing.T) {
	f := auditFixture(t)
	ctx := context.Background()
	log, err := f.s.AuditLog(ctx, 3)
	if err != nil || len(log) != 3 || log[0].ID != 10 || log[2].ID != 8 {
		t.Fatalf("AuditLog(3) = %+v, %v", log, err)
	}
	if log[0].PrevHash != log[1].Hash || len(log[0].Hash) != 64 {
		t.Errorf("rows are not chained: %+v", log[:2])
	}
	all, _ := f.s.AuditLog(ctx, 0)
	if first := all[len(all)-1]; first.PrevHash != strings.Repeat("0", 64) || first.ID != 1 {
		t.Errorf("first row = %+v", first)
	}
	n, head, err := f.s.AuditHead(ctx)
	if err != nil || n != 10 || head != log[0].Hash {
		t.Errorf("AuditHead = %d %s, %v", n, head, err)
	}
	if err := f.s.Audit(ctx, Actor{}, "nas.add", "x", ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("audit without an actor: %v", err)
	}
}

func TestAuditTxRollsBackWithTheChange(t *testing.T) {
	f := auditFixture(t)
	ctx := context.Background()
	tx, err := f.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.s.AuditTx(ctx, tx, Actor{Name: "admin"}, "nas.remove", "nas:ap-a", ""); err != nil {
		t.Fatal(err)
	}
	tx.Rollback()
	if c := f.counts(t); c.audit != 10 || c.head != 10 {
		t.Errorf("counts after rollback = %+v", c)
	}
	tx, _ = f.db.BeginTx(ctx, nil)
	if err := f.s.AuditTx(ctx, tx, Actor{Name: "admin"}, "nas.remove", "nas:ap-a", ""); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := f.s.VerifyAudit(ctx); err != nil {
		t.Fatal(err)
	}
}

// Every change the front desk makes leaves a verifiable trail.
func TestEveryChangeIsAudited(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	st, _ := f.stay(t, NewStay{})
	if _, err := f.s.ExtendStay(ctx, f.staff, st.ID, st.CheckOut.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	code, _ := f.s.ReissueVoucher(ctx, f.staff, st.ID)
	d, _ := f.redeem(t, code)
	f.s.RevokeDevice(ctx, f.staff, d.ID, "lost")
	f.s.EndStay(ctx, f.staff, st.ID)
	log, err := f.s.AuditLog(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for i := len(log) - 1; i >= 0; i-- {
		actions = append(actions, log[i].Action)
		if strings.Contains(log[i].Detail, code[5:]) {
			t.Errorf("row %d leaks the voucher secret: %q", log[i].ID, log[i].Detail)
		}
	}
	want := "stay.create stay.extend voucher.reissue device.enrol device.revoke stay.end"
	if got := strings.Join(actions, " "); got != want {
		t.Errorf("actions = %s\nwant      %s", got, want)
	}
	if err := f.s.VerifyAudit(ctx); err != nil {
		t.Fatal(err)
	}
}

// Rows deleted from the end together with a rewound audit_head leave a
// valid chain, but the stays and devices they recorded are still there.
func TestVerifyAuditFindsTruncationWithRewoundHead(t *testing.T) {
	const rewind = `UPDATE audit_head SET last_id = last_id - 1, hash = (SELECT hash FROM audit_log WHERE id = audit_head.last_id - 1)`
	tests := []struct {
		name    string
		changes func(t *testing.T, f *fixture, code string) // after stay 1 is created (row 1)
		tamper  string
		problem string
		wantID  int64
	}{
		{
			name: "reviewer's SQL: device.enrol",
			changes: func(t *testing.T, f *fixture, code string) {
				f.redeem(t, code)
				f.redeem(t, code)
			},
			tamper:  `DELETE FROM audit_log WHERE id=3; UPDATE audit_head SET last_id=2, hash=(SELECT hash FROM audit_log WHERE id=2)`,
			problem: "device 2 has no device.enrol entry in the audit log",
		},
		{
			name:    "stay.create",
			changes: func(t *testing.T, f *fixture, _ string) { f.stay(t, NewStay{Room: "102"}) },
			tamper:  `DELETE FROM audit_log WHERE id = 2; ` + rewind,
			problem: "stay 2 has no stay.create entry in the audit log",
		},
		{
			name: "stay.end",
			changes: func(t *testing.T, f *fixture, _ string) {
				if _, err := f.s.EndStay(context.Background(), f.staff, 1); err != nil {
					t.Fatal(err)
				}
			},
			tamper:  `DELETE FROM audit_log WHERE id = 2; ` + rewind,
			problem: "ended stay 1 has no stay.end entry in the audit log",
		},
		{
			name: "device.revoke",
			changes: func(t *testing.T, f *fixture, code string) {
				d, _ := f.redeem(t, code)
				if _, err := f.s.RevokeDevice(context.Background(), f.staff, d.ID, "lost"); err != nil {
					t.Fatal(err)
				}
			},
			tamper:  `DELETE FROM audit_log WHERE id = 3; ` + rewind,
			problem: "revoked device 1 has no device.revoke entry in the audit log",
		},
		{
			name: "middle row, head untouched",
			changes: func(t *testing.T, f *fixture, code string) {
				f.redeem(t, code)
				f.redeem(t, code)
			},
			tamper:  `DELETE FROM audit_log WHERE id = 2`,
			problem: "row 2 is missing or was reordered",
			wantID:  2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			_, code := f.stay(t, NewStay{})
			tt.changes(t, f, code)
			if err := f.s.VerifyAudit(ctx); err != nil {
				t.Fatalf("untouched log: %v", err)
			}
			if _, err := f.db.Exec(tt.tamper); err != nil {
				t.Fatal(err)
			}
			err := f.s.VerifyAudit(ctx)
			var ae *AuditError
			if !errors.As(err, &ae) {
				t.Fatalf("VerifyAudit = %v, want *AuditError", err)
			}
			if ae.ID != tt.wantID || !strings.Contains(ae.Problem, tt.problem) {
				t.Errorf("AuditError = {%d %q}, want {%d %q}", ae.ID, ae.Problem, tt.wantID, tt.problem)
			}
		})
	}
}
