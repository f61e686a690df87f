"""The purposes a query of shared data can state (every partner call names one, and every
agreement lists those it allows).

The vocabulary is the agreements', but two lower layers need to recognise a purpose: the
partners' resource server refuses a call stating one the hub does not know, and the audit log
writes an unknown purpose as a code, never as the text a caller typed. They read it from the
application's `HUB_PURPOSES` setting, which `hub.app` fills from here.
"""

PURPOSES = {
    "event_risk_assessment": "Assessing the risk of an event with external speakers",
    "speaker_due_diligence": "Due diligence on an external speaker before an invitation",
    "working_group_case_review": "Reviewing a case at a regional working group",
    "advisory_request": "Answering an advisory request about a speaker",
}
