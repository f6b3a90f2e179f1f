package judges

// RelevanceCriterion is the fixed criterion of relevance_to_query.
const RelevanceCriterion = "The answer is relevant to the question asked: it addresses what the question asks, rather than a different topic."

var newRelevance = fixedCriterion(RelevanceCriterion)
