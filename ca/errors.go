package ca

import "errors"

// Errors callers branch on.
var (
	// ErrExists is returned by Init when the folder already holds a CA.
	ErrExists = errors.New("ca: a certificate authority already exists")
	// ErrNotInitialised is returned by Open when the folder holds no CA.
	ErrNotInitialised = errors.New("ca: no certificate authority; create one with `keycard ca init`")
	// ErrWrongPassphrase is returned by Open when the passphrase does not
	// decrypt the CA key.
	ErrWrongPassphrase = errors.New("ca: wrong CA passphrase")
)
