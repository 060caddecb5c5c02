package args

import (
	"reflect"
	"testing"
)

func TestMerge(t *testing.T) {
	defaults := []Arg{{"a", "1"}, {"b", "2"}}
	tests := []struct {
		name      string
		overrides []Arg
		want      []string
	}{
		{"none", nil, []string{"--a=1", "--b=2"}},
		{"override keeps position", []Arg{{"a", "9"}}, []string{"--a=9", "--b=2"}},
		{"new key appended", []Arg{{"c", "3"}}, []string{"--a=1", "--b=2", "--c=3"}},
		{"last override wins", []Arg{{"b", "x"}, {"b", "y"}}, []string{"--a=1", "--b=y"}},
		{"empty value allowed", []Arg{{"a", ""}}, []string{"--a=", "--b=2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Render(Merge(defaults, tt.overrides)); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
	if defaults[0].Value != "1" {
		t.Fatal("Merge modified its input")
	}
}

func TestParse(t *testing.T) {
	for in, want := range map[string]Arg{"v=4": {"v", "4"}, "--feature-gates=A=true": {"feature-gates", "A=true"}, "x=": {"x", ""}} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"novalue", "=3", ""} {
		if _, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) succeeded, want error", in)
		}
	}
}
