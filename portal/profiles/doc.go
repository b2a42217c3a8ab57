// Package profiles builds the onboarding profiles a guest's device installs
// to join the hotel's secure Wi-Fi with EAP-TLS: an Apple .mobileconfig
// ([Apple]), a GEANT eap-config for the geteduroam apps ([EAPConfig]), an
// Android Passpoint installation file ([AndroidPasspoint]), a Windows WLAN
// profile ([WindowsWLAN]) and a NetworkManager connection ([NetworkManager]).
//
// Every profile pins Keycard's root CA and the RADIUS server's name, which
// Android 11 and later insist on and which keeps every other platform from
// asking the guest to trust a certificate. The builders are pure functions:
// network settings and a credential in, bytes out, the same bytes for the
// same input (identifiers are derived from the input, and where a PKCS#12
// must be re-encoded its salts come from a generator seeded by the input).
// They check what they are given and return an error, prefixed "profiles:",
// rather than a profile a device would refuse or misread.
//
// The package owns the formats: the field names, their order, their
// escaping, and what each platform's documentation and reference readers
// require (see each builder). It leaves to package portal everything
// around them: choosing the profile for the guest's platform, making the
// credential (ca.PKCS12, SCEP challenges), serving the bytes with the
// content type given here, and the instructions a guest follows for the
// files a profile does not carry (the PKCS#12 for Windows and Linux, the
// root for Windows). It keeps no state and does no I/O.
package profiles
