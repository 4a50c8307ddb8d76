// Package net is castkv's production runtime: it runs the roles of
// castkv/actors as hollywood actors, carries their messages between
// processes over TCP, and serves Redis clients on the RESP port.
package net
