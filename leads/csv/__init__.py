"""The one file format of leads (the contract's "CSV" section), read and written; one module a job:

- ``columns``: the columns, what a header's names mean (``read_header``), formula-safe cells;
- ``errors``: what the import says about a file or a row (``CSVFileError``, the messages);
- ``reader``: an upload's bytes as rows: UTF-8 CSV with any of , ; tab | or an Excel sheet (``xlsx``);
- ``rows``: one row's cells checked into a lead as it will be stored, phones in worker processes;
- ``importer``: the import as ``ImportOptions`` says, in one transaction (``writer``: its INSERTs);
- ``exporter``: the streamed export as CSV or a workbook;
- ``sample``: a campaign's sample file;
- ``commands``: what the import and export commands share (their options, ``--campaign``).

The admin's import-export resource, the upload pages, the API, the jobs and the commands all come
through here; the rules a lead must satisfy are the domain's (phones, variables, the lifecycle).
"""
