package options

import (
	"bytes"
	"strings"
	"testing"
)

// An alias is another spelling of one option: it sets the option's value,
// counts as given, the later spelling wins, Peek and --help know it, and a
// typo of it gets a suggestion.
func TestAlias(t *testing.T) {
	newSet := func() *Set {
		s := NewSet(true)
		s.Add("base", Def{Name: "batch_size", Default: 1}, Def{Name: "preprocess", Default: "resize_and_crop"})
		s.Alias("batchSize", "batch_size")
		s.Alias("resize_or_crop", "preprocess")
		s.Alias("preprocess", "batch_size") // an option's own name: ignored
		return s
	}
	cases := []struct {
		args      []string
		batch     int
		preproc   string
		given     bool
		peekBatch string
	}{
		{nil, 1, "resize_and_crop", false, "1"},
		{[]string{"--batchSize", "4"}, 4, "resize_and_crop", true, "4"},
		{[]string{"--batch_size=2", "--batchSize=5"}, 5, "resize_and_crop", true, "5"},
		{[]string{"--batchSize=5", "--batch_size", "2", "--resize_or_crop", "none"}, 2, "none", true, "2"},
	}
	for _, c := range cases {
		s := newSet()
		s.SetArgs(c.args)
		if got := s.Peek("batch_size"); got != c.peekBatch {
			t.Errorf("%v: Peek %q, want %q", c.args, got, c.peekBatch)
		}
		if err := s.Parse("train", c.args, &bytes.Buffer{}); err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		if s.Int("batch_size") != c.batch || s.String("preprocess") != c.preproc || s.Given("batch_size") != c.given {
			t.Errorf("%v: batch_size %d (given %v), preprocess %q", c.args, s.Int("batch_size"), s.Given("batch_size"), s.String("preprocess"))
		}
		if _, ok := s.Map()["batchSize"]; ok {
			t.Errorf("%v: the alias is recorded as an option of its own", c.args)
		}
	}
	s := newSet()
	if s.Resolve("batchSize") != "batch_size" || s.Resolve("batch_size") != "batch_size" || s.Resolve("nope") != "" {
		t.Error("Resolve")
	}
	var help bytes.Buffer
	s.Usage("train", &help)
	if !strings.Contains(help.String(), "also --batchSize") {
		t.Errorf("--help does not show the alias:\n%s", help.String())
	}
	err := s.Parse("train", []string{"--batchSise", "3"}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "batchSize") {
		t.Errorf("typo of an alias: %v, want a suggestion of --batchSize", err)
	}
}
