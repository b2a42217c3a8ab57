package portal

import (
	"fmt"
	"net/http"
	"time"

	"golang.org/x/text/language"
)

// lang is one of the languages the portal speaks.
type lang int

const (
	english lang = iota
	german
	numLangs
)

// langTags are the languages in lang order, for the Accept-Language
// matcher and the page's lang attribute.
var langTags = [numLangs]language.Tag{language.English, language.German}

var langMatcher = language.NewMatcher(langTags[:])

// pickLang chooses the guest's language from Accept-Language (English
// when nothing matches).
func pickLang(r *http.Request) lang {
	tags, _, err := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	if err != nil || len(tags) == 0 {
		return english
	}
	_, i, conf := langMatcher.Match(tags...)
	if conf == language.No {
		return english
	}
	return lang(i)
}

func (l lang) tag() string { return langTags[l].String() }

// t translates a message of the catalog, formatting args into it.
func (l lang) t(key string, args ...any) string {
	m, ok := catalog[key]
	if !ok {
		return key // a missing key shows as itself; TestCatalog keeps them all present
	}
	if len(args) == 0 {
		return m[l]
	}
	return fmt.Sprintf(m[l], args...)
}

// when writes a time as guests read it in their language, in the
// server's time zone (the hotel's).
func (l lang) when(t time.Time) string {
	t = t.Local()
	if l == german {
		return t.Format("2.1.2006, 15:04") + " Uhr"
	}
	return t.Format("2 January 2006, 15:04")
}

// catalog is every text the portal shows a guest, in each language. Keep
// the format verbs (%s, %d) of a message the same in every language.
var catalog = map[string][numLangs]string{
	// The page.
	"title":            {"Wi-Fi at %s", "WLAN im %s"},
	"intro":            {"Enter the voucher code you got at the front desk to get on the Wi-Fi.", "Geben Sie den Gutscheincode von der Rezeption ein, um ins WLAN zu kommen."},
	"intro_room":       {"Enter your room number and surname to get on the Wi-Fi.", "Geben Sie Ihre Zimmernummer und Ihren Nachnamen ein, um ins WLAN zu kommen."},
	"code_label":       {"Voucher code", "Gutscheincode"},
	"code_hint":        {"It looks like K7QD-9XMT-2HWF. Dashes and case do not matter.", "Er sieht aus wie K7QD-9XMT-2HWF. Bindestriche und Groß-/Kleinschreibung sind egal."},
	"room_label":       {"Room number", "Zimmernummer"},
	"surname_label":    {"Surname", "Nachname"},
	"label_label":      {"Name this device (optional)", "Name für dieses Gerät (optional)"},
	"label_hint":       {"So you can tell your devices apart later, e.g. “Ada’s phone”.", "Damit Sie Ihre Geräte später unterscheiden können, z. B. „Adas Handy“."},
	"connect":          {"Set up this %s", "Dieses Gerät einrichten (%s)"},
	"other_device":     {"Other device", "Anderes Gerät"},
	"other_hint":       {"Setting up another kind of device? Choose it here.", "Sie richten eine andere Art von Gerät ein? Wählen Sie es hier."},
	"set_up":           {"Set up %s", "%s einrichten"},
	"platform_apple":   {"iPhone, iPad or Mac", "iPhone, iPad oder Mac"},
	"platform_android": {"Android phone or tablet", "Android-Smartphone oder -Tablet"},
	"platform_windows": {"Windows PC", "Windows-PC"},
	"platform_linux":   {"Linux (NetworkManager)", "Linux (NetworkManager)"},
	"platform_other":   {"another device (geteduroam app)", "anderes Gerät (App geteduroam)"},
	"device_default":   {"device", "Gerät"},
	"dev_iphone":       {"iPhone", "iPhone"},
	"dev_ipad":         {"iPad", "iPad"},
	"dev_mac":          {"Mac", "Mac"},
	"dev_android":      {"Android device", "Android-Gerät"},
	"dev_windows":      {"Windows PC", "Windows-PC"},
	"dev_linux":        {"Linux computer", "Linux-Computer"},
	"dev_chromebook":   {"Chromebook", "Chromebook"},
	"kicker":           {"Guest Wi-Fi", "Gäste-WLAN"},
	"private_note":     {"Your code is only used to check your stay. Each device gets its own certificate, valid until you check out.", "Ihr Code dient nur zur Prüfung Ihres Aufenthalts. Jedes Gerät bekommt ein eigenes Zertifikat, gültig bis zur Abreise."},
	"help":             {"Need help?", "Brauchen Sie Hilfe?"},
	"help_desk":        {"Ask the front desk.", "Fragen Sie an der Rezeption."},
	"back":             {"Back to the start", "Zurück zum Anfang"},

	// Why a try failed.
	"err_mistyped":      {"That code is not right. Please check it and try again.", "Dieser Code stimmt nicht. Bitte prüfen Sie ihn und versuchen Sie es erneut."},
	"err_mistyped_room": {"That room number and surname do not match a stay. Please check both and try again.", "Zimmernummer und Nachname passen zu keinem Aufenthalt. Bitte prüfen Sie beides und versuchen Sie es erneut."},
	"err_missing":       {"Please enter your voucher code.", "Bitte geben Sie Ihren Gutscheincode ein."},
	"err_missing_room":  {"Please enter your room number and surname.", "Bitte geben Sie Zimmernummer und Nachnamen ein."},
	"err_locked":        {"This code is locked after too many wrong tries. Please ask the front desk for a new one.", "Dieser Code ist nach zu vielen Fehlversuchen gesperrt. Bitte fragen Sie an der Rezeption nach einem neuen."},
	"err_ended":         {"Your stay has ended, so this code no longer works. If you are still staying with us, please ask the front desk.", "Ihr Aufenthalt ist beendet, daher gilt dieser Code nicht mehr. Wenn Sie noch bei uns wohnen, fragen Sie bitte an der Rezeption."},
	"err_wait":          {"Too many wrong tries. Please wait %d seconds, then try again.", "Zu viele Fehlversuche. Bitte warten Sie %d Sekunden und versuchen Sie es dann erneut."},
	"err_blocked":       {"Too many wrong tries from this device. Please ask the front desk for help.", "Zu viele Fehlversuche von diesem Gerät. Bitte wenden Sie sich an die Rezeption."},
	"err_session":       {"This page has expired. Please enter your code again.", "Diese Seite ist abgelaufen. Bitte geben Sie Ihren Code erneut ein."},
	"err_internal":      {"Something went wrong on our side. Please try again in a moment, or ask the front desk.", "Bei uns ist etwas schiefgegangen. Bitte versuchen Sie es gleich noch einmal oder fragen Sie an der Rezeption."},
	"err_cross_origin":  {"This form was sent from another website and was refused. Please open the Wi-Fi page directly.", "Dieses Formular kam von einer anderen Website und wurde abgelehnt. Bitte öffnen Sie die WLAN-Seite direkt."},
	"err_gone_title":    {"This download has been used", "Dieser Download wurde schon verwendet"},
	"err_gone":          {"Each download link works once, for a few minutes. Go back to the start to get a new profile.", "Jeder Download-Link funktioniert einmal und nur wenige Minuten. Gehen Sie zurück zum Anfang, um ein neues Profil zu holen."},
	"err_not_found":     {"There is no such page.", "Diese Seite gibt es nicht."},
	"err_title":         {"Sorry", "Entschuldigung"},

	// The captive mini-browser.
	"mini_title":    {"Open this page in your browser", "Öffnen Sie diese Seite in Ihrem Browser"},
	"mini_why":      {"This sign-in window cannot install Wi-Fi profiles, and it closes when you switch apps.", "Dieses Anmeldefenster kann keine WLAN-Profile installieren und schließt sich, wenn Sie die App wechseln."},
	"mini_copy":     {"Copy this address:", "Kopieren Sie diese Adresse:"},
	"mini_apple":    {"Then tap Cancel, choose Use Without Internet, open Safari and paste the address.", "Tippen Sie dann auf „Abbrechen“, wählen Sie „Ohne Internet verwenden“, öffnen Sie Safari und fügen Sie die Adresse ein."},
	"mini_android":  {"Then tap ⋮, choose Use this network as is, open Chrome and paste the address.", "Tippen Sie dann auf ⋮, wählen Sie „Netzwerk so verwenden“, öffnen Sie Chrome und fügen Sie die Adresse ein."},
	"mini_override": {"This is my normal browser", "Das ist mein normaler Browser"},
	"copy":          {"Copy", "Kopieren"},

	// The result.
	"done_title":     {"Your Wi-Fi profile is ready", "Ihr WLAN-Profil ist bereit"},
	"welcome":        {"Welcome, %s.", "Willkommen, %s."},
	"done_for":       {"Device: %s", "Gerät: %s"},
	"valid_until":    {"It works until %s, when your stay ends.", "Es gilt bis %s, dem Ende Ihres Aufenthalts."},
	"download_once":  {"Each download works once, within %d minutes.", "Jeder Download funktioniert einmal, innerhalb von %d Minuten."},
	"password_title": {"Certificate password", "Zertifikatspasswort"},
	"password_note":  {"Type it when the installer asks. It is shown only on this page, so note it now.", "Geben Sie es ein, wenn die Installation danach fragt. Es wird nur auf dieser Seite angezeigt: Notieren Sie es jetzt."},
	"own_key":        {"Your device makes its own key while installing: nothing secret leaves it.", "Ihr Gerät erzeugt beim Installieren seinen eigenen Schlüssel: Nichts Geheimes verlässt es."},
	"another":        {"Another profile for this stay", "Weiteres Profil für diesen Aufenthalt"},

	"file_apple":     {"Download profile", "Profil herunterladen"},
	"file_eapconfig": {"Download Wi-Fi file", "WLAN-Datei herunterladen"},
	"file_passpoint": {"Install Passpoint profile", "Passpoint-Profil installieren"},
	"file_p12":       {"Download certificate (.p12)", "Zertifikat herunterladen (.p12)"},
	"file_wlan":      {"Download Wi-Fi profile (.xml)", "WLAN-Profil herunterladen (.xml)"},
	"file_nm":        {"Download connection (.nmconnection)", "Verbindung herunterladen (.nmconnection)"},
	"file_ca":        {"Download CA certificate (.pem)", "CA-Zertifikat herunterladen (.pem)"},

	"step_apple_iphone_1": {"Tap Download profile, then Allow.", "Tippen Sie auf „Profil herunterladen“ und dann auf „Zulassen“."},
	"step_apple_iphone_2": {"Open Settings, tap Profile Downloaded near the top, then Install. Do it within 8 minutes.", "Öffnen Sie die Einstellungen, tippen Sie oben auf „Profil geladen“ und dann auf „Installieren“. Innerhalb von 8 Minuten."},
	"step_apple_mac_1":    {"Click Download profile.", "Klicken Sie auf „Profil herunterladen“."},
	"step_apple_mac_2":    {"Open System Settings, General, Device Management (older macOS: Privacy & Security, Profiles), double-click the profile and click Install. On an iPad: Settings, Profile Downloaded, Install.", "Öffnen Sie die Systemeinstellungen, Allgemein, Geräteverwaltung (ältere macOS: Datenschutz & Sicherheit, Profile), doppelklicken Sie auf das Profil und klicken Sie auf „Installieren“. Auf dem iPad: Einstellungen, „Profil geladen“, „Installieren“."},
	"step_apple_password": {"When it asks for the certificate password, type the one below.", "Wenn nach dem Zertifikatspasswort gefragt wird, geben Sie das unten stehende ein."},
	"step_joins":          {"Your device joins %s by itself.", "Ihr Gerät verbindet sich dann selbst mit %s."},
	"step_eap_app":        {"Install the geteduroam app (Google Play, App Store, or geteduroam.app for Windows and Linux).", "Installieren Sie die App „geteduroam“ (Google Play, App Store oder geteduroam.app für Windows und Linux)."},
	"step_android_app":    {"Install the geteduroam app from Google Play.", "Installieren Sie die App „geteduroam“ aus Google Play."},
	"step_eap_open":       {"Tap Download Wi-Fi file and open it with geteduroam.", "Tippen Sie auf „WLAN-Datei herunterladen“ und öffnen Sie die Datei mit geteduroam."},
	"step_eap_password":   {"If the app asks for the certificate password, type the one below.", "Falls die App nach dem Zertifikatspasswort fragt, geben Sie das unten stehende ein."},
	"step_eap_connect":    {"Tap Connect: your device joins %s.", "Tippen Sie auf „Verbinden“: Ihr Gerät verbindet sich mit %s."},
	"step_passpoint":      {"On Passpoint networks you can instead tap Install Passpoint profile in Chrome and confirm.", "In Passpoint-Netzen können Sie stattdessen in Chrome auf „Passpoint-Profil installieren“ tippen und bestätigen."},
	"step_windows_1":      {"Download the certificate and open it. Choose Current User, type the password below, and let Windows choose the store. Answer Yes when Windows asks whether to trust %s.", "Laden Sie das Zertifikat herunter und öffnen Sie es. Wählen Sie „Aktueller Benutzer“, geben Sie das Passwort unten ein und lassen Sie Windows den Speicher wählen. Antworten Sie mit „Ja“, wenn Windows fragt, ob es %s vertrauen soll."},
	"step_windows_2":      {"Download the Wi-Fi profile.", "Laden Sie das WLAN-Profil herunter."},
	"step_windows_3":      {"Open Terminal in your Downloads folder and run:", "Öffnen Sie das Terminal in Ihrem Downloads-Ordner und führen Sie aus:"},
	"step_connect":        {"Connect to %s.", "Verbinden Sie sich mit %s."},
	"step_linux_1":        {"Download the three files below.", "Laden Sie die drei Dateien unten herunter."},
	"step_linux_2":        {"In a terminal in your Downloads folder, run:", "Führen Sie in einem Terminal in Ihrem Downloads-Ordner aus:"},

	// The device cap.
	"cap_title":   {"Your stay already has %d devices", "Ihr Aufenthalt hat bereits %d Geräte"},
	"cap_intro":   {"That is as many as your stay allows. To set up this one, replace one of them: the replaced device is taken off the Wi-Fi at once.", "Mehr erlaubt Ihr Aufenthalt nicht. Um dieses Gerät einzurichten, ersetzen Sie eines davon: Das ersetzte Gerät wird sofort vom WLAN getrennt."},
	"cap_since":   {"set up %s", "eingerichtet %s"},
	"cap_replace": {"Replace", "Ersetzen"},
	"cap_desk":    {"Or ask the front desk to allow more devices.", "Oder bitten Sie die Rezeption, mehr Geräte zu erlauben."},
	"unnamed":     {"Unnamed device", "Unbenanntes Gerät"},
}
