package batch

import "context"

// SubmitFile submits an input file as it is, for tests of what the API
// does with a malformed one.
func (c *Client) SubmitFile(ctx context.Context, data []byte) (string, error) {
	return c.submitFile(ctx, data, 1, 1)
}
