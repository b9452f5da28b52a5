// Command trivydb writes a small offline Trivy vulnerability DB (schema 2) for the test stack:
// trivy.db (bbolt) and metadata.json, holding only synthetic advisories, so that a Trivy scan in
// the stack has something known to find without downloading the real DB.
//
// The layout is what trivy reads for Debian (github.com/aquasecurity/trivy-db, pkg/db and
// pkg/vulnsrc/debian):
//
//	"debian 12" / <source package> / <vulnerability id> -> Advisory {"FixedVersion": ...}
//	"data-source" / "debian 12"                         -> DataSource {"ID": "debian", ...}
//	"vulnerability" / <vulnerability id>                -> Vulnerability {"Title", "Severity", ...}
//
// The same input always gives byte-identical files (one transaction, fixed order, fixed times).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

const schemaVersion = 2

// advisory is one synthetic finding: a Debian source package fixed in a version above any
// the base image ships, so every scan of that image reports it.
type advisory struct {
	id, release, sourcePackage, fixedVersion, severity, title, description string
	vendorSeverity                                                         int // trivy-db's Severity: 3 = HIGH
}

var advisories = []advisory{{
	id:             "CVE-2099-0001",
	release:        "debian 12",
	sourcePackage:  "coreutils",
	fixedVersion:   "99.0-1",
	severity:       "HIGH",
	vendorSeverity: 3,
	title:          "SYNTHETIC test advisory from Shipyard's ci/trivydb (not a real vulnerability)",
	description: "A made-up HIGH advisory for coreutils in Debian 12, fixed in 99.0-1, so that scans of " +
		"the test stack's base image always find exactly this. It exists only in the offline DB ci/trivydb writes.",
}}

var dataSources = map[string]map[string]string{
	"debian 12": {"ID": "debian", "Name": "Debian Security Tracker", "URL": "https://salsa.debian.org/security-tracker-team/security-tracker"},
}

func main() {
	out := flag.String("out", "", "directory to write trivy.db and metadata.json into")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "usage: trivydb -out DIR")
		os.Exit(2)
	}
	if err := write(*out); err != nil {
		fmt.Fprintln(os.Stderr, "trivydb:", err)
		os.Exit(1)
	}
}

func write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(dir, "trivy.db")
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return err
	}
	db, err := bolt.Open(path, 0o644, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	if err := db.Update(fill); err != nil {
		_ = db.Close()
		return err
	}
	if err := db.Close(); err != nil {
		return err
	}
	// Trivy refuses a DB whose metadata lacks DownloadedAt unless --skip-db-update is given, and
	// re-downloads one past NextUpdate: fixed times far in the future keep it "fresh" and the
	// file reproducible.
	fixed := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	meta := map[string]any{
		"Version":      schemaVersion,
		"NextUpdate":   time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC),
		"UpdatedAt":    fixed,
		"DownloadedAt": fixed,
	}
	b, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "metadata.json"), append(b, '\n'), 0o644)
}

func fill(tx *bolt.Tx) error {
	for _, a := range advisories {
		release, err := tx.CreateBucketIfNotExists([]byte(a.release))
		if err != nil {
			return err
		}
		pkg, err := release.CreateBucketIfNotExists([]byte(a.sourcePackage))
		if err != nil {
			return err
		}
		if err := putJSON(pkg, a.id, map[string]string{"FixedVersion": a.fixedVersion}); err != nil {
			return err
		}
		vulns, err := tx.CreateBucketIfNotExists([]byte("vulnerability"))
		if err != nil {
			return err
		}
		vuln := map[string]any{
			"Title":          a.title,
			"Description":    a.description,
			"Severity":       a.severity,
			"VendorSeverity": map[string]int{"debian": a.vendorSeverity},
		}
		if err := putJSON(vulns, a.id, vuln); err != nil {
			return err
		}
	}
	sources, err := tx.CreateBucketIfNotExists([]byte("data-source"))
	if err != nil {
		return err
	}
	for _, name := range []string{"debian 12"} {
		if err := putJSON(sources, name, dataSources[name]); err != nil {
			return err
		}
	}
	return nil
}

// putJSON stores v as JSON (encoding/json sorts map keys, so the bytes are stable).
func putJSON(b *bolt.Bucket, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put([]byte(key), data)
}
