// Package eaptlstest provides an in-process EAP-TLS peer (supplicant) built
// on crypto/tls and the eaptls fragment codec, for tests of the eaptls
// server and of radiusd, and for the load generator.
//
// A conversation, with the access point and RADIUS left out:
//
//	peer := eaptlstest.NewPeer(clientTLS, 1000) // certificate, RootCAs, ServerName
//	defer peer.Close()
//	s := eaptls.NewSession(serverConfig)
//	defer s.Close()
//	in, _, _ := peer.Step(nil) // EAP-Response/Identity
//	for {
//		out, res := s.Step(in, 0)
//		var done bool
//		in, done, err = peer.Step(out)
//		if res.Outcome != eaptls.Continue || done {
//			break // res.Outcome: Success or Failure; err set on Failure
//		}
//	}
//	msk, emsk := peer.Keys() // equal to res.MSK, res.EMSK on Success
//
// The peer answers a Request/Identity with its Identity, any method other
// than EAP-TLS with a Nak proposing EAP-TLS, acknowledges each fragment of
// the server's flights, fragments its own flights, and for TLS 1.3 reads the
// server's commitment message (which also stores session tickets in the
// tls.Config's ClientSessionCache, for resumption).
package eaptlstest
