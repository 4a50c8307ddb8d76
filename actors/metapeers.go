package actors

import "slices"

// MetaPeers is a data or API server's view of the meta group: which member
// it asks. Only the meta leader answers; the others redirect (naming the
// leader when they know it), and a member that stays silent is passed over
// for the next one.
type MetaPeers struct {
	members []Addr
	cur     int
}

// NewMetaPeers starts with the first of members, which must not be empty.
func NewMetaPeers(members []Addr) *MetaPeers {
	if len(members) == 0 {
		panic("actors: a meta group needs at least one member")
	}
	return &MetaPeers{members: slices.Clone(members)}
}

// Leader is the member to ask now.
func (p *MetaPeers) Leader() Addr { return p.members[p.cur] }

// Answered records that from answered as leader.
func (p *MetaPeers) Answered(from Addr) {
	if i := slices.Index(p.members, from); i >= 0 {
		p.cur = i
	}
}

// maxMetaPeers bounds the members a MetaPeers learns from redirects (a
// group added members since this server was configured).
const maxMetaPeers = 16

// Redirect follows a redirect from a member that does not lead: to the
// leader it names (learning it, if it was not configured), else to the
// member after from. It reports whether the member to ask changed.
func (p *MetaPeers) Redirect(from Addr, leader Addr) bool {
	before := p.cur
	i := slices.Index(p.members, leader)
	if i < 0 && leader != "" && len(p.members) < maxMetaPeers {
		p.members = append(p.members, leader)
		i = len(p.members) - 1
	}
	if i >= 0 && leader != from {
		p.cur = i
	} else if i := slices.Index(p.members, from); i >= 0 {
		p.cur = (i + 1) % len(p.members)
	}
	return p.cur != before
}

// Silent moves on to the next member: the current one does not answer.
func (p *MetaPeers) Silent() { p.cur = (p.cur + 1) % len(p.members) }
