"""The purposes a query of shared data can state (every partner call names one)."""

PURPOSES = {
    "event_risk_assessment": "Assessing the risk of an event with external speakers",
    "speaker_due_diligence": "Due diligence on an external speaker before an invitation",
    "working_group_case_review": "Reviewing a case at a regional working group",
    "advisory_request": "Answering an advisory request about a speaker",
}
