package qlikapi

// StatusError is an answer with an HTTP status other than 200 OK: its
// message names the request, the status, the start of the answer and the
// hint of the API's StatusHint. Callers tell a status from the other
// failures with errors.As, e.g. a 404 of an endpoint an older Sense
// version does not have.
type StatusError struct {
	// Code is the HTTP status code.
	Code int
	msg  string
}

func (e *StatusError) Error() string { return e.msg }
