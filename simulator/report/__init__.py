"""What a run leaves behind for people.

The console table, the JSON and JUnit reports, and the timeline pictures.
"""
