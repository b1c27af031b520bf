package elfdiff

import "testing"

func TestDemangle(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"meminfo_proc_show", ""},
		{"foo.isra.0", ""},
		{"_ZN4core3fmt5write17h0123456789abcdefE", "core::fmt::write"},
		{"_RNvCs1234_7mycrate3foo", "mycrate::foo"},
		{"_ZN3Foo3barEv", "Foo::bar()"},
	} {
		if got := Demangle(tc.in); got != tc.want {
			t.Errorf("Demangle(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
