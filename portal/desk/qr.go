package desk

import (
	"bytes"
	"fmt"
	"net/http"

	qrcode "github.com/yeqown/go-qrcode/v2"
)

// qrQuiet is the quiet zone around a QR code, in modules (ISO/IEC 18004
// asks for four).
const qrQuiet = 4

// qrSVG renders text as a QR code in SVG: one path of unit squares on a
// white background, crisp at any size and printable. No script, no
// external reference: it is served under the same CSP as the pages.
func qrSVG(text string) ([]byte, error) {
	qr, err := qrcode.NewWith(text, qrcode.WithErrorCorrectionLevel(qrcode.ErrorCorrectionMedium))
	if err != nil {
		return nil, err
	}
	w := &svgWriter{}
	if err := qr.Save(w); err != nil {
		return nil, err
	}
	return w.buf.Bytes(), nil
}

// svgWriter is a qrcode.Writer that writes SVG.
type svgWriter struct{ buf bytes.Buffer }

func (s *svgWriter) Write(mat qrcode.Matrix) error {
	bm := mat.Bitmap()
	n := len(bm) + 2*qrQuiet
	fmt.Fprintf(&s.buf, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" shape-rendering="crispEdges">`, n, n)
	fmt.Fprintf(&s.buf, `<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, n, n)
	for y, row := range bm {
		for x, dark := range row {
			if dark {
				fmt.Fprintf(&s.buf, "M%d %dh1v1h-1z", x+qrQuiet, y+qrQuiet)
			}
		}
	}
	s.buf.WriteString(`"/></svg>`)
	return nil
}

func (s *svgWriter) Close() error { return nil }

// portalQRCode is the QR code of the guest portal's URL, for the voucher
// card: public, the same for every stay.
func (d *Desk) portalQRCode(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Write(d.portalQR)
}
