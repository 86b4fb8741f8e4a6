# Accordant access rules for Open Policy Agent (Rego v1).
#
# Query data.accordant.authz.decision with
#   input = {"recipient": slug, "student": sourcedId, "category": code,
#            "purpose": code, "time_ns": nanoseconds since the Unix epoch (integer)}
# A request is allowed only if a grant of the recipient lists the student, the
# purpose and the category and valid_from_ns <= time_ns < valid_until_ns; this is
# the rule of the Accordant rules bundle, over the same grants (data.json).
# When several grants match, the decision names the oldest agreement (the one the
# Accordant decision API names) and the consents behind its matching grants.
package accordant.authz

import rego.v1

default decision := {"allow": false}

recipient := data.accordant.recipients[input.recipient]

matching contains grant if {
	is_number(input.time_ns)
	some grant in recipient.grants
	input.student in grant.students
	input.purpose in grant.purposes
	input.category in object.keys(grant.categories)
	grant.valid_from_ns <= input.time_ns
	input.time_ns < grant.valid_until_ns
}

agreement := min({grant.agreement | some grant in matching})

chosen contains grant if {
	some grant in matching
	grant.agreement == agreement
}

consent_ids contains id if {
	some grant in chosen
	some id in grant.consents
}

decision := {
	"allow": true,
	"agreement": agreement,
	"basis": grant.basis,
	"exception": grant.exception,
	"consents": sort(consent_ids),
	"version": recipient.version,
} if {
	some grant in chosen
}
