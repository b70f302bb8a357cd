// Entry point of the console bundle (scripts/build-ui.mjs builds it into dist/ui).
import { render } from 'preact';
import { App } from './components/App';
import './styles.css';

render(<App />, document.getElementById('app')!);
