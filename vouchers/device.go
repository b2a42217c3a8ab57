package vouchers

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Device is one enrolled guest device and its certificate.
type Device struct {
	ID           int64
	StayID       int64
	Serial       string // certificate serial, lower-case hex
	Platform     string // "ios", "android", "windows", ...
	Label        string // the guest's name for it
	EnrolledAt   time.Time
	NotAfter     time.Time // the certificate's NotAfter
	RevokedAt    *time.Time
	RevokeReason string
	Identity     string // the certificate's CommonName, "device-<id>"
}

// Enrolment is what a device sends to enrol: its public key, or a CSR
// whose signature proves it holds the private key. Exactly one of the two.
// The server never sees the private key.
type Enrolment struct {
	PublicKey crypto.PublicKey
	CSR       *x509.CertificateRequest
	Platform  string
	Label     string
}

const (
	maxPlatformLen = 32
	maxLabelLen    = 64
	minRSABits     = 2048
	maxRSABits     = 8192
)

// publicKey checks the enrolment and returns the key to certify.
func (e Enrolment) publicKey() (crypto.PublicKey, error) {
	if err := checkOptional("platform", e.Platform, maxPlatformLen); err != nil {
		return nil, err
	}
	if err := checkOptional("label", e.Label, maxLabelLen); err != nil {
		return nil, err
	}
	key := e.PublicKey
	switch {
	case key != nil && e.CSR != nil:
		return nil, invalidf("send a public key or a CSR, not both")
	case e.CSR != nil:
		if err := e.CSR.CheckSignature(); err != nil {
			return nil, invalidf("the CSR's signature does not verify: %v", err)
		}
		key = e.CSR.PublicKey
	case key == nil:
		return nil, invalidf("a public key or a CSR is required")
	}
	return key, checkKey(key)
}

// checkKey accepts ECDSA P-256/P-384, Ed25519 and RSA of 2048..8192 bits.
func checkKey(key crypto.PublicKey) error {
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return invalidf("ECDSA key on %s is not accepted; use P-256 or P-384", k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return invalidf("Ed25519 key has %d bytes, want %d", len(k), ed25519.PublicKeySize)
		}
	case *rsa.PublicKey:
		if bits := k.N.BitLen(); bits < minRSABits || bits > maxRSABits {
			return invalidf("RSA key of %d bits is not accepted; use %d..%d bits", bits, minRSABits, maxRSABits)
		}
	default:
		return invalidf("key type %T is not accepted; use ECDSA P-256/P-384, Ed25519 or RSA", key)
	}
	return nil
}

func checkOptional(what, s string, max int) error {
	switch {
	case !utf8.ValidString(s):
		return invalidf("%s is not valid UTF-8", what)
	case utf8.RuneCountInString(s) > max:
		return invalidf("%s is too long; use at most %d characters", what, max)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return invalidf("%s contains control characters", what)
	}
	return nil
}

const deviceColumns = `d.id, d.stay_id, d.serial, d.platform, d.label, d.enrolled_at, d.not_after, d.revoked_at, d.revoke_reason, d.identity`

// deviceRow receives deviceColumns.
type deviceRow struct {
	d                  Device
	serial             sql.NullString
	enrolled, notAfter int64
	revoked            sql.NullInt64
}

func (r *deviceRow) dest() []any {
	return []any{&r.d.ID, &r.d.StayID, &r.serial, &r.d.Platform, &r.d.Label, &r.enrolled, &r.notAfter,
		&r.revoked, &r.d.RevokeReason, &r.d.Identity}
}

func (r *deviceRow) device() Device {
	d := r.d
	d.Serial = r.serial.String
	d.EnrolledAt, d.NotAfter = fromDB(r.enrolled), fromDB(r.notAfter)
	d.RevokedAt = fromNull(r.revoked)
	return d
}

// DeviceURI is the URI SAN of a device's certificate.
func DeviceURI(id int64) *url.URL {
	return &url.URL{Scheme: "urn", Opaque: fmt.Sprintf("keycard:device:%d", id)}
}

// DeviceCommonName is the CommonName (identity) of a device's certificate.
func DeviceCommonName(id int64) string { return fmt.Sprintf("device-%d", id) }

// SerialHex is how serials are stored and compared: lower-case hex.
func SerialHex(cert *x509.Certificate) string { return cert.SerialNumber.Text(16) }

// enrol adds a device to st in tx: checks the stay and its device cap,
// inserts the row, has the Issuer sign the key, and stores the serial with
// an audit row. On any error the caller rolls tx back, so an issuer
// failure leaves nothing behind.
func (s *Store) enrol(ctx context.Context, tx *sql.Tx, by Actor, st Stay, key crypto.PublicKey, e Enrolment, now time.Time, via string) (Device, *x509.Certificate, error) {
	if s.issuer == nil {
		return Device{}, nil, errors.New("vouchers: no certificate issuer configured")
	}
	if err := s.mayEnrol(ctx, tx, st, now); err != nil {
		return Device{}, nil, err
	}
	platform, label := strings.TrimSpace(e.Platform), strings.TrimSpace(e.Label)
	res, err := tx.ExecContext(ctx, `INSERT INTO devices (stay_id, platform, label, enrolled_at) VALUES (?, ?, ?, ?)`,
		st.ID, platform, label, dbTime(now))
	if err != nil {
		return Device{}, nil, fmt.Errorf("vouchers: enrol: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return Device{}, nil, fmt.Errorf("vouchers: enrol: %w", err)
	}
	cert, err := s.issuer.IssueDeviceCertificate(ctx, CertificateRequest{
		PublicKey:  key,
		CommonName: DeviceCommonName(id),
		URIs:       []*url.URL{DeviceURI(id)},
		NotAfter:   st.CheckOut,
	})
	if err != nil {
		return Device{}, nil, fmt.Errorf("vouchers: issue certificate for device %d: %w", id, err)
	}
	if err := checkIssued(cert, key, id, st.CheckOut); err != nil {
		return Device{}, nil, err
	}
	d := Device{
		ID: id, StayID: st.ID, Serial: SerialHex(cert), Platform: platform, Label: label,
		EnrolledAt: now.UTC(), NotAfter: cert.NotAfter.UTC(), Identity: cert.Subject.CommonName,
	}
	if _, err := tx.ExecContext(ctx, `UPDATE devices SET serial = ?, identity = ?, not_after = ? WHERE id = ?`,
		d.Serial, d.Identity, dbTime(d.NotAfter), id); err != nil {
		return Device{}, nil, fmt.Errorf("vouchers: enrol: store certificate of device %d: %w", id, err)
	}
	err = s.appendAudit(ctx, tx, by, now, "device.enrol", deviceRef(id),
		fmt.Sprintf("stay=%d via=%s serial=%s not_after=%s platform=%q label=%q",
			st.ID, via, d.Serial, d.NotAfter.Format(time.RFC3339), platform, label))
	if err != nil {
		return Device{}, nil, err
	}
	return d, cert, nil
}

// mayEnrol refuses a stay that is over (ErrStayEnded) or at its device cap
// (ErrDeviceCap). A device holds a place while its certificate can still
// get on the network: not revoked, and either unexpired or, after
// ExtendStay, kept working past its NotAfter because the stay's check-out
// is later than it (see Authorize). Authorize's cap check counts the same
// way.
func (s *Store) mayEnrol(ctx context.Context, q queryer, st Stay, now time.Time) error {
	if st.Over(now) {
		return fmt.Errorf("%w: stay %d", ErrStayEnded, st.ID)
	}
	var n int
	if err := q.QueryRowContext(ctx,
		`SELECT COUNT(*) FROM devices WHERE stay_id = ? AND revoked_at IS NULL AND (not_after > ? OR not_after < ?)`,
		st.ID, dbTime(now), dbTime(st.CheckOut)).Scan(&n); err != nil {
		return fmt.Errorf("vouchers: enrol: %w", err)
	}
	if n >= st.MaxDevices {
		return fmt.Errorf("%w: %d of %d devices are enrolled and not revoked; revoke one to free its place", ErrDeviceCap, n, st.MaxDevices)
	}
	return nil
}

// checkIssued makes sure the Issuer certified what was asked.
func checkIssued(cert *x509.Certificate, key crypto.PublicKey, id int64, checkOut time.Time) error {
	if cert == nil || cert.SerialNumber == nil {
		return fmt.Errorf("vouchers: issuer returned no certificate for device %d", id)
	}
	k, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !k.Equal(key) {
		return fmt.Errorf("vouchers: issuer certified a different key for device %d", id)
	}
	if cert.Subject.CommonName != DeviceCommonName(id) {
		return fmt.Errorf("vouchers: issuer named device %d %q, want %q", id, cert.Subject.CommonName, DeviceCommonName(id))
	}
	if cert.NotAfter.After(checkOut) {
		return fmt.Errorf("vouchers: issuer made device %d's certificate outlive the stay (%s > %s)",
			id, cert.NotAfter.Format(time.RFC3339), checkOut.Format(time.RFC3339))
	}
	return nil
}

func deviceRef(id int64) string { return fmt.Sprintf("device:%d", id) }

// EnrolDevice enrols a device for a stay without a voucher (the front desk
// path). The same rules hold: the stay must not be over and the device cap
// applies.
func (s *Store) EnrolDevice(ctx context.Context, by Actor, stayID int64, e Enrolment) (Device, *x509.Certificate, error) {
	if err := checkActor(by); err != nil {
		return Device{}, nil, err
	}
	key, err := e.publicKey()
	if err != nil {
		return Device{}, nil, err
	}
	now := s.now()
	var d Device
	var cert *x509.Certificate
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		st, err := s.stay(ctx, tx, stayID)
		if err != nil {
			return err
		}
		d, cert, err = s.enrol(ctx, tx, by, st, key, e, now, "staff")
		return err
	})
	if err != nil {
		return Device{}, nil, err
	}
	s.log.Info("device enrolled", "stay", stayID, "device", d.ID, "serial", d.Serial, "via", "staff", "by", by.Name)
	return d, cert, nil
}

// Device returns the device with the given id (ErrUnknownDevice).
func (s *Store) Device(ctx context.Context, id int64) (Device, error) {
	return s.device(ctx, s.db, id)
}

func (s *Store) device(ctx context.Context, q queryer, id int64) (Device, error) {
	var r deviceRow
	err := q.QueryRowContext(ctx, `SELECT `+deviceColumns+` FROM devices d WHERE d.id = ? AND d.serial IS NOT NULL`, id).
		Scan(r.dest()...)
	if errors.Is(err, sql.ErrNoRows) {
		return Device{}, fmt.Errorf("%w: %d", ErrUnknownDevice, id)
	}
	if err != nil {
		return Device{}, fmt.Errorf("vouchers: read device %d: %w", id, err)
	}
	return r.device(), nil
}

// Devices returns the devices of a stay (stayID 0: of all stays), by id.
// An unknown stay has no devices.
func (s *Store) Devices(ctx context.Context, stayID int64) ([]Device, error) {
	q := `SELECT ` + deviceColumns + ` FROM devices d WHERE d.serial IS NOT NULL`
	var args []any
	if stayID != 0 {
		q += ` AND d.stay_id = ?`
		args = append(args, stayID)
	}
	return s.devices(ctx, q+` ORDER BY d.id`, args...)
}

func (s *Store) devices(ctx context.Context, q string, args ...any) ([]Device, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("vouchers: list devices: %w", err)
	}
	defer rows.Close()
	var ds []Device
	for rows.Next() {
		var r deviceRow
		if err := rows.Scan(r.dest()...); err != nil {
			return nil, fmt.Errorf("vouchers: list devices: %w", err)
		}
		ds = append(ds, r.device())
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("vouchers: list devices: %w", err)
	}
	return ds, nil
}

// RevokeDevice revokes a device's certificate: Authorize refuses it from
// now on, DueForCheckout returns it once, and Revoked lists it for the
// CRL. The reason is required and audited. It frees the device's place
// under the stay's cap.
func (s *Store) RevokeDevice(ctx context.Context, by Actor, id int64, reason string) (Device, error) {
	if err := checkActor(by); err != nil {
		return Device{}, err
	}
	reason, err := cleanText("revocation reason", reason, 200)
	if err != nil {
		return Device{}, err
	}
	now := s.now().UTC()
	var d Device
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if d, err = s.device(ctx, tx, id); err != nil {
			return err
		}
		if d.RevokedAt != nil {
			return invalidf("device %d was already revoked at %s", id, d.RevokedAt.Format(time.RFC3339))
		}
		if _, err := tx.ExecContext(ctx, `UPDATE devices SET revoked_at = ?, revoke_reason = ? WHERE id = ?`,
			dbTime(now), reason, id); err != nil {
			return fmt.Errorf("vouchers: revoke device %d: %w", id, err)
		}
		d.RevokedAt, d.RevokeReason = &now, reason
		return s.appendAudit(ctx, tx, by, now, "device.revoke", deviceRef(id),
			fmt.Sprintf("stay=%d serial=%s reason=%q", d.StayID, d.Serial, reason))
	})
	if err != nil {
		return Device{}, err
	}
	s.log.Info("device revoked", "device", id, "serial", d.Serial, "by", by.Name)
	return d, nil
}
