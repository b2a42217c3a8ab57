package configs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Passphrase returns the passphrase that encrypts the CA keys: the value of
// the environment variable named by passphrase_env if it is set and not
// empty, else the content of passphrase_file without its trailing newline.
// A passphrase file readable by group or others is refused. The passphrase is
// never part of the config file itself.
func (c CAConfig) Passphrase() ([]byte, error) {
	if c.PassphraseEnv != "" {
		if v := os.Getenv(c.PassphraseEnv); v != "" {
			return []byte(v), nil
		}
	}
	if c.PassphraseFile != "" {
		return readPassphraseFile(c.PassphraseFile)
	}
	env := c.PassphraseEnv
	if env == "" {
		env = DefaultPassphraseEnv
	}
	return nil, fmt.Errorf("configs: no CA passphrase: set the environment variable %s (named by ca.passphrase_env), or set ca.passphrase_file to a file holding the passphrase (chmod 600)", env)
}

const maxPassphraseFile = 64 << 10

func readPassphraseFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("configs: ca.passphrase_file %s does not exist; create it with the CA passphrase and chmod 600 it", path)
		}
		return nil, fmt.Errorf("configs: ca.passphrase_file: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("configs: ca.passphrase_file: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("configs: ca.passphrase_file %s is not a regular file", path)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("configs: ca.passphrase_file %s can be read by other users (mode %04o); run: chmod 600 %s", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxPassphraseFile+1))
	if err != nil {
		return nil, fmt.Errorf("configs: ca.passphrase_file: %w", err)
	}
	if len(data) > maxPassphraseFile {
		return nil, fmt.Errorf("configs: ca.passphrase_file %s is over 64 KiB; it should hold only the passphrase", path)
	}
	pass := []byte(strings.TrimRight(string(data), "\r\n"))
	clear(data)
	if len(pass) == 0 {
		return nil, fmt.Errorf("configs: ca.passphrase_file %s is empty; write the CA passphrase into it", path)
	}
	return pass, nil
}
