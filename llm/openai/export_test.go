package openai

// AppendFields is appendFields, for tests.
var AppendFields = appendFields
