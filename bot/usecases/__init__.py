"""Use cases the company's systems drive (the ATS API, the CSV importer): above the flows
they start (an offer's conversation, a re-applicant check), below the HTTP handlers."""
