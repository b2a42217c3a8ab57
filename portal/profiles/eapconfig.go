package profiles

import (
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
)

// The eap-config document (GEANT EAP metadata, devices/eap_config/
// eap-metadata.xsd in GEANT/CAT). The schema has no target namespace and
// its sequences fix the order of the elements, which the field order below
// follows.
type eapProviderList struct {
	XMLName        xml.Name    `xml:"EAPIdentityProviderList"`
	XSI            string      `xml:"xmlns:xsi,attr"`
	SchemaLocation string      `xml:"xsi:noNamespaceSchemaLocation,attr"`
	Provider       eapProvider `xml:"EAPIdentityProvider"`
}

type eapProvider struct {
	ID                      string          `xml:"ID,attr"`
	Namespace               string          `xml:"namespace,attr"`
	Version                 int             `xml:"version,attr"`
	ValidUntil              string          `xml:"ValidUntil"`
	AuthenticationMethods   []eapAuthMethod `xml:"AuthenticationMethods>AuthenticationMethod"`
	CredentialApplicability []eapIEEE80211  `xml:"CredentialApplicability>IEEE80211"`
	ProviderInfo            eapProviderInfo `xml:"ProviderInfo"`
}

type eapAuthMethod struct {
	EAPMethodType        int           `xml:"EAPMethod>Type"`
	ServerSideCredential eapServerCred `xml:"ServerSideCredential"`
	ClientSideCredential eapClientCred `xml:"ClientSideCredential"`
}

type eapServerCred struct {
	CA       []eapCertData `xml:"CA"`
	ServerID []string      `xml:"ServerID"`
}

type eapClientCred struct {
	OuterIdentity     string      `xml:"OuterIdentity"`
	ClientCertificate eapCertData `xml:"ClientCertificate"`
	Passphrase        string      `xml:"Passphrase"`
}

type eapCertData struct {
	Format   string `xml:"format,attr"`
	Encoding string `xml:"encoding,attr"`
	Value    string `xml:",chardata"`
}

type eapIEEE80211 struct {
	SSID        string `xml:"SSID"`
	MinRSNProto string `xml:"MinRSNProto"`
}

type eapProviderInfo struct {
	DisplayName string       `xml:"DisplayName"`
	Helpdesk    *eapHelpdesk `xml:"Helpdesk"`
}

type eapHelpdesk struct {
	EmailAddress string `xml:"EmailAddress,omitempty"`
	WebAddress   string `xml:"WebAddress,omitempty"`
	Phone        string `xml:"Phone,omitempty"`
}

// EAPConfig builds an eap-config file (served as [ContentTypeEAPConfig])
// for the geteduroam apps on Android, iOS, Windows and Linux: EAP-TLS with
// Keycard's root (CA) and n.ServerName (ServerID) to check the server, the
// PKCS#12 and its passphrase as the client credential, the SSID with CCMP
// as the least RSN cipher, the hotel's name and help desk, and ValidUntil =
// the check-out (p12.NotAfter).
//
// n.Realm is the provider's ID; the apps use it to recognise a profile
// they already installed.
func EAPConfig(n Network, p12 PKCS12) ([]byte, error) {
	if err := n.validate(); err != nil {
		return nil, err
	}
	if n.Realm == "" {
		return nil, errors.New("profiles: eap-config needs the Realm (the provider ID)")
	}
	if _, err := p12.open(); err != nil {
		return nil, err
	}
	doc := eapProviderList{
		XSI:            "http://www.w3.org/2001/XMLSchema-instance",
		SchemaLocation: "eap-metadata.xsd",
		Provider: eapProvider{
			ID:         n.Realm,
			Namespace:  "urn:RFC4282:realm",
			Version:    1,
			ValidUntil: p12.NotAfter.UTC().Format("2006-01-02T15:04:05Z"),
			AuthenticationMethods: []eapAuthMethod{{
				EAPMethodType: eapTLS,
				ServerSideCredential: eapServerCred{
					CA: []eapCertData{{
						Format:   "X.509",
						Encoding: "base64",
						Value:    base64.StdEncoding.EncodeToString(n.RootCA.Raw),
					}},
					ServerID: []string{n.ServerName},
				},
				ClientSideCredential: eapClientCred{
					OuterIdentity: p12.Identity,
					ClientCertificate: eapCertData{
						Format:   "PKCS12",
						Encoding: "base64",
						Value:    base64.StdEncoding.EncodeToString(p12.Data),
					},
					Passphrase: p12.Password,
				},
			}},
			CredentialApplicability: []eapIEEE80211{{SSID: n.SSID, MinRSNProto: "CCMP"}},
			ProviderInfo:            eapProviderInfo{DisplayName: n.displayName()},
		},
	}
	if n.HelpdeskEmail != "" || n.HelpdeskURL != "" || n.HelpdeskPhone != "" {
		doc.Provider.ProviderInfo.Helpdesk = &eapHelpdesk{
			EmailAddress: n.HelpdeskEmail,
			WebAddress:   n.HelpdeskURL,
			Phone:        n.HelpdeskPhone,
		}
	}
	out, err := xml.MarshalIndent(doc, "", "\t")
	if err != nil {
		return nil, fmt.Errorf("profiles: encoding the eap-config: %w", err)
	}
	return append(append([]byte(xml.Header), out...), '\n'), nil
}
