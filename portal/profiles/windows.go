package profiles

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"strings"
	"text/template"
)

// windowsProfile is a WLAN profile (WLANProfile v1 schema) with an EAPHost
// configuration for EAP-TLS (EapTlsConnectionPropertiesV1, with the V2 and
// V3 extensions), laid out as Microsoft's "WPA2-Enterprise with TLS
// profile sample" and geteduroam/windows-app's ProfileXml.cs write it. The
// namespaces are the http:// ones Windows uses (the Microsoft Learn pages
// show them as https://, which Windows does not accept).
//
// Every value is escaped by the template's x function.
var windowsProfile = template.Must(template.New("wlan").Funcs(template.FuncMap{"x": xmlText}).Parse(
	`<?xml version="1.0" encoding="UTF-8"?>
<WLANProfile xmlns="http://www.microsoft.com/networking/WLAN/profile/v1">
	<name>{{x .Name}}</name>
	<SSIDConfig>
		<SSID>
			<hex>{{.SSIDHex}}</hex>
			<name>{{x .SSID}}</name>
		</SSID>
		<nonBroadcast>false</nonBroadcast>
	</SSIDConfig>
	<connectionType>ESS</connectionType>
	<connectionMode>auto</connectionMode>
	<autoSwitch>false</autoSwitch>
	<MSM>
		<security>
			<authEncryption>
				<authentication>WPA2</authentication>
				<encryption>AES</encryption>
				<useOneX>true</useOneX>
			</authEncryption>
			<PMKCacheMode>enabled</PMKCacheMode>
			<PMKCacheTTL>720</PMKCacheTTL>
			<PMKCacheSize>128</PMKCacheSize>
			<preAuthMode>disabled</preAuthMode>
			<OneX xmlns="http://www.microsoft.com/networking/OneX/v1">
				<authMode>user</authMode>
				<EAPConfig>
					<EapHostConfig xmlns="http://www.microsoft.com/provisioning/EapHostConfig">
						<EapMethod>
							<Type xmlns="http://www.microsoft.com/provisioning/EapCommon">13</Type>
							<VendorId xmlns="http://www.microsoft.com/provisioning/EapCommon">0</VendorId>
							<VendorType xmlns="http://www.microsoft.com/provisioning/EapCommon">0</VendorType>
							<AuthorId xmlns="http://www.microsoft.com/provisioning/EapCommon">0</AuthorId>
						</EapMethod>
						<Config xmlns="http://www.microsoft.com/provisioning/EapHostConfig">
							<Eap xmlns="http://www.microsoft.com/provisioning/BaseEapConnectionPropertiesV1">
								<Type>13</Type>
								<EapType xmlns="http://www.microsoft.com/provisioning/EapTlsConnectionPropertiesV1">
									<CredentialsSource>
										<CertificateStore>
											<SimpleCertSelection>true</SimpleCertSelection>
										</CertificateStore>
									</CredentialsSource>
									<ServerValidation>
										<DisableUserPromptForServerValidation>true</DisableUserPromptForServerValidation>
										<ServerNames>{{x .ServerName}}</ServerNames>
										<TrustedRootCA>{{.Thumbprint}}</TrustedRootCA>
									</ServerValidation>
									<DifferentUsername>false</DifferentUsername>
									<PerformServerValidation xmlns="http://www.microsoft.com/provisioning/EapTlsConnectionPropertiesV2">true</PerformServerValidation>
									<AcceptServerName xmlns="http://www.microsoft.com/provisioning/EapTlsConnectionPropertiesV2">true</AcceptServerName>
									<TLSExtensions xmlns="http://www.microsoft.com/provisioning/EapTlsConnectionPropertiesV2">
										<FilteringInfo xmlns="http://www.microsoft.com/provisioning/EapTlsConnectionPropertiesV3">
											<CAHashList Enabled="true">
												<IssuerHash>{{.Thumbprint}}</IssuerHash>
											</CAHashList>
										</FilteringInfo>
									</TLSExtensions>
								</EapType>
							</Eap>
						</Config>
					</EapHostConfig>
				</EAPConfig>
			</OneX>
		</security>
	</MSM>
</WLANProfile>
`))

// WindowsWLAN builds a Windows WLAN profile (served as [ContentTypeWindows];
// installed with "netsh wlan add profile filename=…") for WPA2/AES with
// 802.1X EAP-TLS: the client certificate comes from the user's certificate
// store (the guest imports the PKCS#12 into CurrentUser\My, and Keycard's
// root into the trusted roots, as the page's instructions say), the server
// must chain to Keycard's root (TrustedRootCA, its SHA-1 thumbprint as
// Windows writes it: upper-case hex pairs separated by spaces) and be named
// n.ServerName, and Windows does not ask the guest to trust anything else.
// The profile is named after the SSID, so a newer one replaces it.
//
// Only client certificates issued under Keycard's root are offered
// (CAHashList), so a guest with other certificates is not asked to choose.
//
// AcceptServerName is true: [MS-GPWL] 2.2.3.2.8 defines it as "the server
// name is validated against ServerNames". geteduroam's windows-app writes
// false there for EAP-TLS; Keycard follows the specification.
func WindowsWLAN(n Network) ([]byte, error) {
	if err := n.validate(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	err := windowsProfile.Execute(&b, struct {
		Name, SSID, SSIDHex, ServerName, Thumbprint string
	}{
		Name:       n.SSID,
		SSID:       n.SSID,
		SSIDHex:    strings.ToUpper(hex.EncodeToString([]byte(n.SSID))),
		ServerName: n.ServerName,
		Thumbprint: windowsThumbprint(n.RootCA.Raw),
	})
	if err != nil {
		return nil, fmt.Errorf("profiles: writing the WLAN profile: %w", err)
	}
	return b.Bytes(), nil
}

// windowsThumbprint is a certificate's SHA-1 thumbprint as Windows writes
// it in profiles: "AB 12 …".
func windowsThumbprint(der []byte) string {
	sum := sha1.Sum(der)
	pairs := make([]string, len(sum))
	for i, c := range sum {
		pairs[i] = fmt.Sprintf("%02X", c)
	}
	return strings.Join(pairs, " ")
}

// xmlText escapes s for XML character data and attribute values.
func xmlText(s string) (string, error) {
	var b strings.Builder
	if err := xml.EscapeText(&b, []byte(s)); err != nil {
		return "", err
	}
	return b.String(), nil
}
