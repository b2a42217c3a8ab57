package portal

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var verbRE = regexp.MustCompile(`%[a-z]`)

// Every message is in every language, with the same format verbs.
func TestCatalog(t *testing.T) {
	for key, m := range catalog {
		want := verbRE.FindAllString(m[english], -1)
		for l := range numLangs {
			if m[l] == "" {
				t.Errorf("%s has no %s text", key, langTags[l])
			}
			if got := verbRE.FindAllString(m[l], -1); !slices.Equal(got, want) {
				t.Errorf("%s: %s has verbs %v, English %v", key, langTags[l], got, want)
			}
		}
	}
	// Every key the code and the template use is there.
	for _, p := range platforms {
		if _, ok := catalog["platform_"+string(p)]; !ok {
			t.Errorf("no catalog entry for platform_%s", p)
		}
	}
	src, _ := webFiles.ReadFile("web/page.html")
	for _, m := range regexp.MustCompile(`\.T "([a-z_0-9]+)"`).FindAllStringSubmatch(string(src), -1) {
		if _, ok := catalog[m[1]]; !ok {
			t.Errorf("the template uses %q, which the catalog lacks", m[1])
		}
	}
}

// Every catalog key the Go code names is in the catalog.
func TestCatalogKeysInCode(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	keyRE := regexp.MustCompile(`"((?:err|step|file|cap|mini|done|password|platform|dev)_[a-z0-9_]+|title|welcome|connect|set_up|unnamed|another|own_key|download_once|valid_until|device_default|kicker)"`)
	seen := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range keyRE.FindAllStringSubmatch(string(src), -1) {
			seen++
			if _, ok := catalog[m[1]]; !ok {
				t.Errorf("%s names %q, which the catalog lacks", name, m[1])
			}
		}
	}
	if seen < 30 {
		t.Errorf("found only %d keys in the code; is the pattern right?", seen)
	}
}
