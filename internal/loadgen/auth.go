package loadgen

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"
)

// supplicant is what the load generator needs from eaptlstest.Peer: Step(nil)
// gives the EAP-Response/Identity; Step(request) the next EAP-Response, with
// done once the server's EAP-Success or EAP-Failure has been taken; Keys the
// MSK and EMSK it derived itself.
type supplicant interface {
	Step(in []byte) (out []byte, done bool, err error)
	Keys() (msk, emsk []byte)
	ConnectionState() tls.ConnectionState
	Close()
}

// device is one worker: a simulated guest device behind a simulated access
// point, doing one authentication after another.
type device struct {
	opts    Options
	nas     *nas
	tls     *tls.Config // shared by this device's authentications (session cache)
	station string      // Calling-Station-Id
}

// outcome is the result of one successful authentication.
type outcome struct {
	rounds  int
	resumed bool
}

// maxAttrLen is the payload of one RADIUS attribute.
const maxAttrLen = 253

// authenticate runs one EAP-TLS authentication to its verified end.
func (d *device) authenticate(ctx context.Context) (outcome, error) {
	var out outcome
	peer := d.opts.newPeer(d.tls, d.opts.FragmentSize, d.opts.Identity)
	defer peer.Close()

	eap, _, err := peer.Step(nil) // EAP-Response/Identity
	if err != nil {
		return out, fail(CauseEAP, err)
	}
	var state []byte
	for out.rounds < d.opts.MaxRounds {
		out.rounds++
		attrs, err := d.request(eap, state)
		if err != nil {
			return out, fail(CauseInternal, err)
		}
		resp, reqAuth, err := d.nas.exchange(ctx, attrs)
		if err != nil {
			return out, err
		}
		in, eapErr := joinEAP(resp.Attributes)
		if eapErr != nil && resp.Code != radius.CodeAccessReject {
			return out, fail(CauseEAP, eapErr)
		}
		switch resp.Code {
		case radius.CodeAccessChallenge:
			state = nil
			if s, ok := resp.Lookup(attrState); ok {
				state = append([]byte(nil), s...)
			}
			next, done, err := peer.Step(in)
			if err != nil {
				return out, fail(CauseTLS, err)
			}
			if done {
				return out, fail(CauseEAP, errors.New("loadgen: supplicant finished on an Access-Challenge"))
			}
			eap = next
		case radius.CodeAccessAccept:
			_, done, err := peer.Step(in)
			if err != nil {
				return out, fail(CauseEAP, fmt.Errorf("loadgen: EAP in Access-Accept: %w", err))
			}
			msk, _ := peer.Keys()
			if !done || msk == nil {
				return out, fail(CauseEAP, errors.New("loadgen: Access-Accept before the supplicant finished its handshake"))
			}
			out.resumed = peer.ConnectionState().DidResume
			return out, d.checkKeys(resp, reqAuth, msk)
		case radius.CodeAccessReject:
			// The supplicant's view (a TLS alert it sent or got) says why.
			if eapErr != nil {
				return out, fail(CauseReject, errors.New("loadgen: Access-Reject without EAP-Message"))
			}
			if _, _, err := peer.Step(in); err != nil {
				return out, fail(CauseReject, fmt.Errorf("loadgen: Access-Reject: %w", err))
			}
			return out, fail(CauseReject, errors.New("loadgen: Access-Reject"))
		default:
			return out, fail(CauseProtocol, fmt.Errorf("loadgen: unexpected %v", resp.Code))
		}
	}
	return out, fail(CauseTooManyRounds, fmt.Errorf("loadgen: no Access-Accept after %d rounds", out.rounds))
}

// request builds the attributes of one Access-Request (Message-Authenticator
// is added by nas.exchange).
func (d *device) request(eap, state []byte) (radius.Attributes, error) {
	p := &radius.Packet{}
	if err := rfc2865.UserName_SetString(p, d.opts.Identity); err != nil {
		return nil, err
	}
	if err := rfc2865.NASIdentifier_SetString(p, d.opts.NASIdentifier); err != nil {
		return nil, err
	}
	rfc2865.NASPortType_Set(p, rfc2865.NASPortType_Value_Wireless80211)
	rfc2865.ServiceType_Set(p, rfc2865.ServiceType_Value_FramedUser)
	rfc2865.FramedMTU_Set(p, rfc2865.FramedMTU(d.opts.FramedMTU))
	if err := rfc2865.CalledStationID_SetString(p, "02-00-00-00-00-01:Keycard"); err != nil {
		return nil, err
	}
	if err := rfc2865.CallingStationID_SetString(p, d.station); err != nil {
		return nil, err
	}
	if state != nil {
		p.Add(attrState, state)
	}
	for len(eap) > 0 {
		n := min(len(eap), maxAttrLen)
		p.Add(rfc2869.EAPMessage_Type, eap[:n])
		eap = eap[n:]
	}
	return p.Attributes, nil
}

// checkKeys decrypts MS-MPPE-Recv-Key and MS-MPPE-Send-Key and compares them
// with the supplicant's MSK.
func (d *device) checkKeys(resp *radius.Packet, reqAuth [16]byte, msk []byte) error {
	if len(msk) < 64 {
		return fail(CauseInternal, fmt.Errorf("loadgen: supplicant MSK is %d bytes", len(msk)))
	}
	rawRecv, rawSend, ok := mppeKeys(resp.Attributes)
	if !ok {
		return fail(CauseMPPEMissing, errors.New("loadgen: Access-Accept lacks exactly one MS-MPPE-Recv-Key and MS-MPPE-Send-Key"))
	}
	recv, err := decryptMPPEKey(rawRecv, d.opts.Secret, reqAuth)
	if err != nil {
		return fail(CauseMPPEMalformed, err)
	}
	send, err := decryptMPPEKey(rawSend, d.opts.Secret, reqAuth)
	if err != nil {
		return fail(CauseMPPEMalformed, err)
	}
	if subtle.ConstantTimeCompare(recv, msk[0:32]) != 1 || subtle.ConstantTimeCompare(send, msk[32:64]) != 1 {
		return fail(CauseMPPEMismatch, errors.New("loadgen: MS-MPPE keys differ from the supplicant's MSK"))
	}
	return nil
}

// joinEAP concatenates the EAP-Message attributes of a response.
func joinEAP(attrs radius.Attributes) ([]byte, error) {
	var eap []byte
	for _, a := range attrs {
		if a.Type == rfc2869.EAPMessage_Type {
			eap = append(eap, a.Attribute...)
		}
	}
	if eap == nil {
		return nil, errors.New("loadgen: answer carries no EAP-Message")
	}
	return eap, nil
}

// stationID is a locally administered MAC address, unique per worker.
func stationID(worker int) string {
	return fmt.Sprintf("02-4B-43-00-%02X-%02X", byte(worker>>8), byte(worker))
}
