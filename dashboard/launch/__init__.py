"""Running the whole lab from one command (`manage.py runlab`): the embedded Redis and the launcher."""
