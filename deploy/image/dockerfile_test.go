package main

import (
	"bufio"
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	keyword string
	args    string
}

// dockerfileStages returns the instructions of each stage of deploy/Dockerfile.
func dockerfileStages(t testing.TB) [][]instruction {
	t.Helper()
	f, err := os.Open("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stages [][]instruction
	var line string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if strings.HasSuffix(text, `\`) {
			line += strings.TrimSuffix(text, `\`) + " "
			continue
		}
		line += text
		keyword, args, _ := strings.Cut(line, " ")
		line = ""
		in := instruction{keyword: strings.ToUpper(keyword), args: strings.Join(strings.Fields(args), " ")}
		if in.keyword == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) > 0 {
			stages[len(stages)-1] = append(stages[len(stages)-1], in)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(stages) < 2 {
		t.Fatalf("deploy/Dockerfile has %d stages, want a build stage and a final one", len(stages))
	}
	return stages
}

// TestDockerfileBuildsTheSameImage holds deploy/Dockerfile to the layout and
// config this builder writes, so that the two images stay interchangeable.
func TestDockerfileBuildsTheSameImage(t *testing.T) {
	stages := dockerfileStages(t)
	final := stages[len(stages)-1]
	got := map[string][]string{}
	for _, in := range final {
		got[in.keyword] = append(got[in.keyword], in.args)
	}
	one := func(keyword string) string {
		t.Helper()
		if len(got[keyword]) != 1 {
			t.Fatalf("final stage has %d %s instructions, want 1", len(got[keyword]), keyword)
		}
		return got[keyword][0]
	}
	jsonList := func(keyword string) []string {
		t.Helper()
		var l []string
		if err := json.Unmarshal([]byte(one(keyword)), &l); err != nil {
			t.Fatalf("%s %s: want the exec (JSON) form: %v", keyword, one(keyword), err)
		}
		return l
	}

	if from := one("FROM"); from != "scratch" {
		t.Errorf("final stage is FROM %s; this builder starts from an empty image", from)
	}
	if u := one("USER"); u != imageUser {
		t.Errorf("USER %s, want %s", u, imageUser)
	}
	if w := one("WORKDIR"); w != homeDir {
		t.Errorf("WORKDIR %s, want %s", w, homeDir)
	}
	if e := strings.Fields(one("ENV")); !slices.Equal(e, env) {
		t.Errorf("ENV %q, want %q", e, env)
	}
	var ports []string
	for _, p := range strings.Fields(one("EXPOSE")) {
		if !strings.Contains(p, "/") {
			p += "/tcp"
		}
		ports = append(ports, p)
	}
	if !slices.Equal(slices.Sorted(slices.Values(ports)), slices.Sorted(slices.Values(exposedPorts))) {
		t.Errorf("EXPOSE %q, want %q", ports, exposedPorts)
	}
	if e := jsonList("ENTRYPOINT"); !slices.Equal(e, entrypoint) {
		t.Errorf("ENTRYPOINT %q, want %q", e, entrypoint)
	}
	if c := jsonList("CMD"); !slices.Equal(c, cmd) {
		t.Errorf("CMD %q, want %q", c, cmd)
	}
	dockerLabels := map[string]string{}
	for _, m := range regexp.MustCompile(`(\S+)="([^"]*)"`).FindAllStringSubmatch(one("LABEL"), -1) {
		dockerLabels[m[1]] = m[2]
	}
	if want := labels(Spec{Version: "${VERSION}", Licenses: "NOASSERTION"}); !reflect.DeepEqual(dockerLabels, want) {
		t.Errorf("LABEL %v,\nwant %v", dockerLabels, want)
	}
	if c := one("COPY"); c != "--from=build /rootfs/ /" {
		t.Errorf("COPY %s: want the build stage's whole /rootfs, owners and modes kept", c)
	}

	// The build stage lays /rootfs out as rootfsTar does.
	var build strings.Builder
	for _, stage := range stages[:len(stages)-1] {
		for _, in := range stage {
			build.WriteString(in.keyword + " " + in.args + "\n")
		}
	}
	for _, want := range []string{
		"CGO_ENABLED=0",
		"-trimpath",
		"-o /rootfs" + binaryPath + " ./services/ferry",
		"COPY deploy/image/rootfs/etc/passwd deploy/image/rootfs/etc/group /rootfs/etc/",
		"cp /etc/ssl/certs/ca-certificates.crt /rootfs" + certsPath,
		"chown -R 0:0 /rootfs",
		"chown 65532:65532 /rootfs" + homeDir,
		"chmod 1777 /rootfs/tmp",
	} {
		if !strings.Contains(build.String(), want) {
			t.Errorf("the build stage lacks %q", want)
		}
	}
}
