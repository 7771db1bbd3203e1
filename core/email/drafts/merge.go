package drafts

import (
	"strings"

	"github.com/framework-m/framework-m/ports"
)

// MergeContent merges two copies of a draft: the server's and the
// incoming one. Recipients are united by address, compared ignoring case
// (the server's order first; a name missing on one side is taken from the
// other, and where both have one the newer's wins); tags, attachments and
// references are united likewise. The account, subject, bodies and
// schedule are the newer copy's: the incoming one when incomingNewer.
func MergeContent(server, incoming Content, incomingNewer bool) Content {
	server, incoming = server.Normalized(), incoming.Normalized()
	newer, older := incoming, server
	if !incomingNewer {
		newer, older = server, incoming
	}
	out := newer
	out.To = mergeAddresses(server.To, incoming.To, incomingNewer)
	out.Cc = mergeAddresses(server.Cc, incoming.Cc, incomingNewer)
	out.Bcc = mergeAddresses(server.Bcc, incoming.Bcc, incomingNewer)
	out.Tags = unique(append(append([]string{}, server.Tags...), incoming.Tags...))
	out.Attachments = unique(append(append([]string{}, server.Attachments...), incoming.Attachments...))
	out.References = unique(append(append([]string{}, older.References...), newer.References...))
	return out
}

// mergeAddresses unites the server's and the incoming addresses.
func mergeAddresses(server, incoming []ports.EmailAddress, incomingNewer bool) []ports.EmailAddress {
	out := make([]ports.EmailAddress, 0, len(server)+len(incoming))
	at := map[string]int{}
	add := func(a ports.EmailAddress, newer bool) {
		key := strings.ToLower(a.Address)
		i, ok := at[key]
		if !ok {
			at[key] = len(out)
			out = append(out, a)
			return
		}
		if a.Name != "" && (out[i].Name == "" || newer) {
			out[i].Name = a.Name
		}
	}
	for _, a := range server {
		add(a, !incomingNewer)
	}
	for _, a := range incoming {
		add(a, incomingNewer)
	}
	return out
}
