// Package configs implements Keycard's configuration file: the schema, strict
// loading, defaults and validation.
//
// The lifecycle follows smallstep's step-ca: [Load] (or [Parse]) decodes the
// YAML strictly — an unknown or misspelt key is an error that names the key,
// its line and where it sits — then [Config.Init] fills every field the file
// left out with its default and resolves relative paths against the folder
// holding the config file, then [Config.Validate] checks every field and
// returns one error per bad field, each naming the YAML path and how to fix it.
//
// The CA passphrase is never part of the file: the config names an
// environment variable (ca.passphrase_env) or a private file
// (ca.passphrase_file), and [CAConfig.Passphrase] reads it on demand.
//
// The package owns no sockets and reads no files other than the config file
// and, when asked, the passphrase file. cmd/keycard reads the Config and
// hands plain values to the other packages; nothing else imports configs.
package configs
