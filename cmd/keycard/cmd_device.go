package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"keycard/ca"
	"keycard/vouchers"
)

type deviceView struct {
	ID           int64      `json:"id"`
	Stay         int64      `json:"stay"`
	Serial       string     `json:"serial"`
	Identity     string     `json:"identity"`
	Platform     string     `json:"platform"`
	Label        string     `json:"label"`
	EnrolledAt   time.Time  `json:"enrolled_at"`
	NotAfter     time.Time  `json:"not_after"`
	RevokedAt    *time.Time `json:"revoked_at,omitempty"`
	RevokeReason string     `json:"revoke_reason,omitempty"`
}

func viewDevice(d vouchers.Device) deviceView {
	return deviceView{ID: d.ID, Stay: d.StayID, Serial: d.Serial, Identity: d.Identity, Platform: d.Platform, Label: d.Label,
		EnrolledAt: d.EnrolledAt, NotAfter: d.NotAfter, RevokedAt: d.RevokedAt, RevokeReason: d.RevokeReason}
}

func viewDevices(ds []vouchers.Device) []deviceView {
	out := make([]deviceView, 0, len(ds))
	for _, d := range ds {
		out = append(out, viewDevice(d))
	}
	return out
}

func printDevices(w io.Writer, ds []vouchers.Device) {
	line(w, "ID\tSTAY\tIDENTITY\tPLATFORM\tLABEL\tENROLLED\tEXPIRES\tREVOKED")
	for _, d := range ds {
		line(w, "%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s", d.ID, d.StayID, d.Identity, d.Platform, d.Label, when(d.EnrolledAt), when(d.NotAfter), whenPtr(d.RevokedAt))
	}
}

// enrolDevice issues a certificate for a new device of a stay and writes
// its key, certificate and CA files. The files are created first (so a bad
// --out fails before anything is enrolled), the device is enrolled, and the
// files are filled in; if that fails the device is revoked again ("enrolment
// aborted") and the files removed, so a failed command leaves no device
// holding a place under the stay's cap with a key nobody has.
func enrolDevice(c *cli.Context, e *env) error {
	dir := c.String("out")
	files := enrolFiles{
		Certificate: filepath.Join(dir, "device.crt"),
		Key:         filepath.Join(dir, "device.key"),
		CA:          filepath.Join(dir, "ca.pem"),
	}
	if c.Bool("p12") {
		files.PKCS12 = filepath.Join(dir, "device.p12")
	}
	p12Password, err := secretFlag(c, "p12-password")
	if err != nil {
		return err
	}
	vs, err := e.vouchers(c.Context, true)
	if err != nil {
		return err
	}
	a, err := e.ca(c.Context)
	if err != nil {
		return err
	}
	out, err := createFiles(dir, files)
	if err != nil {
		return err
	}
	defer out.close()

	// The key is made here, on the enrolling side: the store only ever sees
	// the public half.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	device, cert, err := vs.EnrolDevice(c.Context, e.by, c.Int64("stay"), vouchers.Enrolment{
		PublicKey: key.Public(), Platform: c.String("platform"), Label: c.String("label"),
	})
	if err != nil {
		out.remove()
		return err
	}
	p12Password, err = writeEnrolment(out, files, key, cert, a, p12Password)
	if err != nil {
		out.remove()
		if _, rerr := vs.RevokeDevice(c.Context, e.by, device.ID, "enrolment aborted: "+err.Error()); rerr != nil {
			return fmt.Errorf("%w (and revoking device %d failed: %v)", err, device.ID, rerr)
		}
		return fmt.Errorf("%w; device %d was revoked again", err, device.ID)
	}
	type enrolView struct {
		Device         deviceView `json:"device"`
		Files          enrolFiles `json:"files"`
		PKCS12Password string     `json:"pkcs12_password,omitempty"`
	}
	return e.emit(enrolView{viewDevice(device), files, p12Password}, func(w io.Writer) {
		line(w, "Device %d enrolled for stay %d as %s, valid until %s.", device.ID, device.StayID, device.Identity, when(device.NotAfter))
		line(w, "Wrote %s, %s, %s", files.Key, files.Certificate, files.CA)
		if files.PKCS12 != "" {
			line(w, "Wrote %s; its password (shown once): %s", files.PKCS12, p12Password)
		}
	})
}

// openFiles are enrolment files created empty, to be filled in.
type openFiles struct {
	byPath map[string]*os.File
	made   []string
}

// createFiles makes dir and creates each file in it, new (O_EXCL), with the
// key and PKCS#12 readable by the owner only.
func createFiles(dir string, files enrolFiles) (*openFiles, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("--out: %w", err)
	}
	out := &openFiles{byPath: map[string]*os.File{}}
	for path, mode := range map[string]os.FileMode{files.Certificate: 0o644, files.CA: 0o644, files.Key: 0o600, files.PKCS12: 0o600} {
		if path == "" {
			continue
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
		if err != nil {
			out.remove()
			if errors.Is(err, os.ErrExist) {
				return nil, fmt.Errorf("%s already exists; choose another --out folder", path)
			}
			return nil, fmt.Errorf("--out: %w", err)
		}
		out.byPath[path] = f
		out.made = append(out.made, path)
	}
	return out, nil
}

func (o *openFiles) close() {
	for _, f := range o.byPath {
		f.Close()
	}
}

// remove deletes every file createFiles made.
func (o *openFiles) remove() {
	o.close()
	for _, p := range o.made {
		os.Remove(p)
	}
}

// writeEnrolment fills the files in: the key, the certificate with its
// intermediate, the root, and on request a PKCS#12 (returning its password).
func writeEnrolment(out *openFiles, files enrolFiles, key *ecdsa.PrivateKey, cert *x509.Certificate, a *ca.Authority, p12Password string) (string, error) {
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", err
	}
	writes := []struct {
		path   string
		blocks []*pem.Block
	}{
		{files.Key, []*pem.Block{{Type: "PRIVATE KEY", Bytes: keyDER}}},
		{files.Certificate, []*pem.Block{certBlock(cert), certBlock(a.Intermediate())}},
		{files.CA, []*pem.Block{certBlock(a.Root())}},
	}
	for _, w := range writes {
		for _, b := range w.blocks {
			if err := pem.Encode(out.byPath[w.path], b); err != nil {
				return "", fmt.Errorf("write %s: %w", w.path, err)
			}
		}
	}
	if files.PKCS12 != "" {
		if p12Password == "" {
			p12Password = randomPassword()
		}
		p12, err := ca.PKCS12(key, cert, a.Chain(), p12Password)
		if err != nil {
			return "", err
		}
		if _, err := out.byPath[files.PKCS12].Write(p12); err != nil {
			return "", fmt.Errorf("write %s: %w", files.PKCS12, err)
		}
	}
	for _, f := range out.byPath {
		if err := f.Close(); err != nil {
			return "", fmt.Errorf("write %s: %w", f.Name(), err)
		}
	}
	return p12Password, nil
}

// enrolFiles are the paths device enrol wrote.
type enrolFiles struct {
	Certificate string `json:"certificate"`
	Key         string `json:"key"`
	CA          string `json:"ca"`
	PKCS12      string `json:"pkcs12,omitempty"`
}

func deviceCommand() *cli.Command {
	return &cli.Command{
		Name:  "device",
		Usage: "enrol, list and revoke guests' devices",
		Subcommands: []*cli.Command{
			{
				Name: "enrol",
				Usage: "issue a device certificate for a stay from the CLI (staff devices, support, tests); " +
					"writes device.key, device.crt (with the intermediate) and ca.pem to --out",
				Flags: []cli.Flag{
					&cli.Int64Flag{Name: "stay", Required: true},
					&cli.StringFlag{Name: "out", Required: true, Usage: "`DIR` to write the files to (created, must not hold them already)"},
					&cli.StringFlag{Name: "platform", Value: "other"},
					&cli.StringFlag{Name: "label", Value: "enrolled by staff"},
					&cli.BoolFlag{Name: "p12", Usage: "also write device.p12 (3DES/SHA-1, the form phones accept)"},
					&cli.StringFlag{Name: "p12-password", Usage: "password for device.p12 (generated and shown once when empty)"},
					&cli.StringFlag{Name: "p12-password-file", Usage: "read the device.p12 password from `FILE` (one line)"},
					jsonFlag,
				},
				Action: withEnv(false, enrolDevice),
			},
			{
				Name:  "list",
				Usage: "list devices (of one stay with --stay)",
				Flags: []cli.Flag{&cli.Int64Flag{Name: "stay"}, jsonFlag},
				Action: withEnv(false, func(c *cli.Context, e *env) error {
					vs, err := e.vouchers(c.Context, false)
					if err != nil {
						return err
					}
					if id := c.Int64("stay"); id != 0 {
						if _, err := vs.Stay(c.Context, id); err != nil {
							return err
						}
					}
					ds, err := vs.Devices(c.Context, c.Int64("stay"))
					if err != nil {
						return err
					}
					return e.emit(viewDevices(ds), func(w io.Writer) { printDevices(w, ds) })
				}),
			},
			{
				Name:      "revoke",
				Usage:     "revoke a device: it is refused from now on",
				ArgsUsage: "DEVICE-ID",
				Flags:     []cli.Flag{&cli.StringFlag{Name: "reason", Usage: "why (required; kept in the audit log)"}, jsonFlag},
				Action: withEnv(false, func(c *cli.Context, e *env) error {
					id, err := idArg(c, "DEVICE-ID")
					if err != nil {
						return err
					}
					if c.String("reason") == "" {
						return fmt.Errorf("device revoke: give --reason, as in: keycard device revoke --reason \"reported stolen\" %d", id)
					}
					vs, err := e.vouchers(c.Context, false)
					if err != nil {
						return err
					}
					d, err := vs.RevokeDevice(c.Context, e.by, id, c.String("reason"))
					if err != nil {
						return err
					}
					return e.emit(viewDevice(d), func(w io.Writer) {
						line(w, "Device %d revoked %s: %s", d.ID, whenPtr(d.RevokedAt), d.RevokeReason)
					})
				}),
			},
		},
	}
}

func certBlock(c *x509.Certificate) *pem.Block {
	return &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}
}

// writePEM writes blocks to a new file with the given mode.
func writePEM(path string, mode os.FileMode, blocks ...*pem.Block) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	for _, b := range blocks {
		if err := pem.Encode(f, b); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// randomPassword makes a password people can type: 16 characters from an
// alphabet without look-alikes (about 80 bits).
func randomPassword() string {
	const alphabet = "abcdefghjkmnpqrstuvwxyzACDEFGHJKLMNPQRTUVWXY34679"
	b := make([]byte, 16)
	max := big.NewInt(int64(len(alphabet)))
	for i := range b {
		n, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic(err) // crypto/rand never fails on Linux
		}
		b[i] = alphabet[n.Int64()]
	}
	return string(b)
}
