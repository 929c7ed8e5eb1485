package sessionstore

// Member is how Redis names the session with id: the SHA-256 of the id
// as stored in the user's session index, and as announced on the changes
// channel when the session ends ("s <member>").
func Member(id string) string { return hashID(id) }
