package actors

import "testing"

func TestMetaPeersFollowsRedirectsAndSilence(t *testing.T) {
	p := NewMetaPeers([]Addr{"m1", "m2", "m3"})
	if p.Leader() != "m1" {
		t.Fatalf("starts at %s", p.Leader())
	}
	if !p.Redirect("m1", "m3") || p.Leader() != "m3" {
		t.Fatalf("a redirect to m3 left it at %s", p.Leader())
	}
	if !p.Redirect("m3", "") || p.Leader() != "m1" {
		t.Fatalf("a redirect naming no leader should move past m3, to m1; at %s", p.Leader())
	}
	p.Silent()
	if p.Leader() != "m2" {
		t.Fatalf("after silence at %s, want m2", p.Leader())
	}
	// A leader it was not configured with (added to the group since).
	if !p.Redirect("m2", "m4") || p.Leader() != "m4" {
		t.Fatalf("a redirect to an unconfigured member left it at %s", p.Leader())
	}
	p.Answered("m1")
	if p.Leader() != "m1" {
		t.Fatalf("after m1 answered it asks %s", p.Leader())
	}
	for i := 0; i < 100; i++ {
		p.Redirect("m1", Addr(rune('a'+i%26))+"x")
	}
	if len(p.members) > maxMetaPeers {
		t.Fatalf("learned %d members, more than the bound %d", len(p.members), maxMetaPeers)
	}
}
